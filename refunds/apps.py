from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class RefundsConfig(AppConfig):
    name = "refunds"
    verbose_name = _("Refund claims")

    def ready(self) -> None:
        from refunds.append_only import install_after_migrate

        post_migrate.connect(install_after_migrate, sender=self)
