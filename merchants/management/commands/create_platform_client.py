from django.core.management.base import BaseCommand, CommandError

from merchants.models import DEFAULT_PLATFORM_SLUG, Merchant, Platform, default_platform_pk
from merchants.services import platform_client_create


class Command(BaseCommand):
    help = (
        "Create a platform API client and print its token once. Without --merchant the "
        "client may create merchants and is bound to those it creates."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--merchant",
            action="append",
            default=[],
            metavar="ID",
            help="merchant id or platform id the client may act for (repeatable)",
        )
        parser.add_argument(
            "--platform",
            default=DEFAULT_PLATFORM_SLUG,
            metavar="SLUG",
            help="the platform the client belongs to (default: the default platform)",
        )

    def handle(self, *args, name, merchant, platform, **options):
        tenant = Platform.objects.filter(slug=platform).first()
        if tenant is None and platform == DEFAULT_PLATFORM_SLUG:
            tenant = Platform.objects.get(pk=default_platform_pk())
        if tenant is None:
            raise CommandError(f"no platform {platform!r}")
        shops = Merchant.objects.filter(tenant=tenant)
        merchants = []
        for ref in merchant:
            found = shops.filter(platform_id=ref).first()
            if found is None and ref.isdigit():
                found = shops.filter(pk=int(ref)).first()
            if found is None:
                raise CommandError(f"no merchant {ref!r}")
            merchants.append(found)
        client, token = platform_client_create(
            name=name, merchants=merchants, can_create_merchants=not merchants, tenant=tenant
        )
        self.stdout.write(f"client {client.name} (id {client.pk}) token: {token}")
        self.stdout.write("Store the token now: it is not shown again.")
