"""A reviewer belongs to exactly one platform: every reviewer (a member of the reviewer
groups) and staff member who is not a superuser and had no ``PlatformStaff`` row, and so
worked for the default platform implicitly, gets the default platform's row. Rows that
exist are kept (the one-to-one key since 0003 means a user never had two). Superusers
without a row stay the deployment's operators (every platform).

Reversing removes nothing: a row on the default platform means what no row meant."""

from django.db import migrations

REVIEWER_GROUPS = ("reviewers", "senior reviewers")


def staff_rows_for_everyone(apps, schema_editor):
    from django.db.models import Q

    User = apps.get_model("auth", "User")
    Platform = apps.get_model("merchants", "Platform")
    PlatformStaff = apps.get_model("merchants", "PlatformStaff")
    users = (
        User.objects.filter(Q(groups__name__in=REVIEWER_GROUPS) | Q(is_staff=True))
        .filter(is_superuser=False, platform_staff__isnull=True)
        .distinct()
    )
    user_ids = list(users.values_list("pk", flat=True))
    if not user_ids:
        return
    default, _ = Platform.objects.get_or_create(
        slug="default", defaults={"name": "Default platform"}
    )
    PlatformStaff.objects.bulk_create(
        [PlatformStaff(user_id=user_id, platform=default) for user_id in user_ids]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("merchants", "0003_tenancy_platform"),
    ]

    operations = [migrations.RunPython(staff_rows_for_everyone, migrations.RunPython.noop)]
