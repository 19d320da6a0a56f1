from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from evidence.admin import PlatformRowsAdmin, ReadOnlyAdmin, ReadOnlyInline, StoredFileAdmin
from merchants.models import (
    Membership,
    Merchant,
    PackingEvidence,
    Platform,
    PlatformClient,
    PlatformStaff,
    Product,
    ProductPhoto,
    Shipment,
)


class PlatformScopedAdmin(PlatformRowsAdmin):
    """A listing of one kind of platform row, narrowed to the platform of the staff member
    looking at it (``refunds.policy.staff_platform_rows``: their ``PlatformStaff`` row; a
    superuser without one sees every platform and gets a platform filter).
    ``platform_lookup`` is the path to the row's platform; its change pages 404 for
    another platform's row like the listing hides it. The form's choices of platforms,
    queues and shops are the staff member's platform's too, so that a row cannot be
    pointed at another platform."""

    platform_lookup = "tenant"

    @property
    def platform_lookups(self):
        return (self.platform_lookup,)

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        from refunds import policy

        if policy.staff_platform_id(request.user) is None:
            filters.insert(0, self.platform_lookup)
        return filters

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        return _scope_choices(field, request)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        return _scope_choices(field, request)


def _platform_paths() -> dict:
    """How a row a form may point at reaches its platform."""
    from refunds.models import Buyer, RefundClaim, ReviewQueue

    return {
        Platform: "pk",
        Merchant: "tenant",
        Buyer: "tenant",
        ReviewQueue: "tenant",
        RefundClaim: "tenant",
    }


def _scope_choices(field, request):
    queryset = getattr(field, "queryset", None) if field is not None else None
    path = _platform_paths().get(queryset.model) if queryset is not None else None
    if path is not None:
        from refunds import policy

        field.queryset = policy.staff_platform_rows(queryset, request.user, (path,))
    return field


@admin.register(Platform)
class PlatformAdmin(admin.ModelAdmin):
    """Platforms are the deployment's configuration: its operator (a superuser) adds
    them and decides which join the credit network."""

    list_display = ["name", "slug", "joins_credit_network", "network_pseudonym", "created_at"]
    list_filter = ["joins_credit_network"]
    prepopulated_fields = {"slug": ["name"]}

    def get_readonly_fields(self, request, obj=None):
        return ["slug"] if obj is not None else []

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj is not None else self.prepopulated_fields

    def save_model(self, request, obj, form, change):
        """Through the services: a new platform gets its seed queues and rules."""
        from merchants import services

        fields = {
            "name": obj.name,
            "joins_credit_network": obj.joins_credit_network,
            "network_pseudonym": obj.network_pseudonym,
        }
        if change:
            services.platform_update(platform=obj, **fields)
            return
        created = services.platform_create(slug=obj.slug, **fields)
        obj.pk, obj.created_at = created.pk, created.created_at

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False  # its rows are PROTECTed anyway


class PlatformStaffForm(forms.ModelForm):
    class Meta:
        model = PlatformStaff
        fields = ["user", "platform"]

    def clean(self):
        cleaned = super().clean()
        user = cleaned.get("user") or getattr(self.instance, "user", None)
        if user is not None and cleaned.get("platform") is not None:
            _refused_as_form_error(
                "platform_staff_check_move", user=user, platform_id=cleaned["platform"].pk
            )
        return cleaned


def _refused_as_form_error(name: str, **kwargs) -> None:
    """Run the service check ``merchants.services.<name>``; its refusal is the form's
    error (the admin shows the form again instead of saving around the rule)."""
    from merchants import services
    from refunds.exceptions import ClaimError

    try:
        getattr(services, name)(**kwargs)
    except ClaimError as exc:
        raise forms.ValidationError(str(exc)) from exc


class ServiceDeletes:
    """Rows deleted one at a time through a service that may refuse: the admin's
    ``delete_check(obj)`` asks first (raising the service's refusal) and the refusal is
    shown on the row's change page; ``delete_model`` calls the service. No bulk delete,
    whose "deleted" message Django prints whatever the service said."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        from django.shortcuts import redirect

        from refunds.exceptions import ClaimError

        obj = self.get_object(request, object_id)
        if (
            request.method == "POST"
            and obj is not None
            and self.has_delete_permission(request, obj)
        ):
            try:
                self.delete_check(obj)
            except ClaimError as exc:
                messages.error(request, str(exc))
                opts = self.model._meta
                return redirect(f"admin:{opts.app_label}_{opts.model_name}_change", obj.pk)
        return super().delete_view(request, object_id, extra_context)


@admin.register(PlatformStaff)
class PlatformStaffAdmin(ServiceDeletes, PlatformScopedAdmin):
    """The platform a reviewer works for, written through ``platform_staff_assign`` and
    ``platform_staff_remove``: a move (or removal) is refused while they hold a claim of
    the platform they would leave."""

    form = PlatformStaffForm
    platform_lookup = "platform"
    list_display = ["user", "platform", "created_at"]
    autocomplete_fields = ["user"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "created_at"] if obj is not None else ["created_at"]

    def save_model(self, request, obj, form, change):
        from merchants.services import platform_staff_assign

        staff = platform_staff_assign(user=obj.user, platform=form.cleaned_data["platform"])
        obj.pk, obj.created_at = staff.pk, staff.created_at

    def delete_check(self, obj):
        from merchants.services import platform_staff_check_remove

        platform_staff_check_remove(user=obj.user)

    def delete_model(self, request, obj):
        from merchants.services import platform_staff_remove

        platform_staff_remove(user=obj.user)


class MembershipInline(ReadOnlyInline):
    """A shop's members, shown; they are changed on the Memberships page, one at a time
    through the services (a shop keeps at least one owner)."""

    model = Membership
    fields = ["user", "role", "created_at"]
    readonly_fields = fields


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "merchant", "role"]

    def clean(self):
        cleaned = super().clean()
        user = cleaned.get("user") or getattr(self.instance, "user", None)
        merchant = cleaned.get("merchant") or getattr(self.instance, "merchant", None)
        if user is not None and merchant is not None and cleaned.get("role"):
            _refused_as_form_error(
                "membership_check", merchant=merchant, user=user, role=cleaned["role"]
            )
        return cleaned


@admin.register(Merchant)
class MerchantAdmin(PlatformScopedAdmin):
    list_display = ["name", "platform_id", "tenant", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "platform_id"]
    date_hierarchy = "created_at"
    inlines = [MembershipInline]
    fields = ["tenant", "platform_id", "name", "contact_email", "is_active", "created_at"]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # a new shop has no members yet

    def get_readonly_fields(self, request, obj=None):
        fixed = ["tenant", "platform_id"] if obj is not None else []
        return [*fixed, "created_at"]

    def save_model(self, request, obj, form, change):
        """Through ``merchant_create`` / ``merchant_update``; platform and id are fixed."""
        from merchants import services

        if change:
            services.merchant_update(
                merchant=obj,
                name=obj.name,
                contact_email=obj.contact_email,
                is_active=obj.is_active,
            )
            return
        merchant = services.merchant_create(
            platform_id=obj.platform_id,
            name=obj.name,
            contact_email=obj.contact_email,
            tenant=obj.tenant,
            is_active=obj.is_active,
        )
        obj.pk, obj.created_at = merchant.pk, merchant.created_at


@admin.register(Membership)
class MembershipAdmin(ServiceDeletes, PlatformScopedAdmin):
    """Who acts for a shop, written through ``membership_add`` and ``membership_remove``
    (a shop keeps at least one owner); a membership's user and shop are fixed."""

    form = MembershipForm
    platform_lookup = "merchant__tenant"
    list_display = ["user", "merchant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "merchant__name"]
    autocomplete_fields = ["user", "merchant"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "merchant", "created_at"] if obj is not None else ["created_at"]

    def save_model(self, request, obj, form, change):
        from merchants.services import membership_add

        membership = membership_add(merchant=obj.merchant, user=obj.user, role=obj.role)
        obj.pk, obj.created_at = membership.pk, membership.created_at

    def delete_check(self, obj):
        from merchants.services import membership_check

        membership_check(merchant=obj.merchant, user=obj.user, role=None)

    def delete_model(self, request, obj):
        from merchants.services import membership_remove

        membership_remove(merchant=obj.merchant, user=obj.user)


class ProductPhotoInline(ReadOnlyInline):
    """Listing photos arrive through the upload service, never a raw form."""

    model = ProductPhoto
    fk_name = "product"
    fields = ["original_name", "status", "width", "height", "sha256", "created_at"]
    readonly_fields = fields


@admin.register(Product)
class ProductAdmin(PlatformScopedAdmin):
    platform_lookup = "merchant__tenant"
    list_display = ["title", "merchant", "platform_id", "created_at"]
    list_filter = ["merchant"]
    search_fields = ["title", "platform_id"]
    inlines = [ProductPhotoInline]
    fields = ["merchant", "platform_id", "title", "created_at"]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # photos arrive through the upload

    def get_readonly_fields(self, request, obj=None):
        fixed = ["merchant", "platform_id"] if obj is not None else []
        return [*fixed, "created_at"]

    def save_model(self, request, obj, form, change):
        """Through ``product_create`` / ``product_update``; shop and id are fixed."""
        from merchants import services

        if change:
            services.product_update(product=obj, title=obj.title)
            return
        product = services.product_create(
            merchant=obj.merchant, platform_id=obj.platform_id, title=obj.title
        )
        obj.pk, obj.created_at = product.pk, product.created_at


@admin.register(Shipment)
class ShipmentAdmin(PlatformScopedAdmin, ReadOnlyAdmin):
    """Read-only: shipments come from the shop or the platform (``shipment_create``), with
    their packing evidence; nobody edits a tracking record here."""

    platform_lookup = "order__merchant__tenant"
    list_display = ["tracking_number", "carrier", "order", "shipped_at"]
    list_filter = ["carrier"]
    search_fields = ["tracking_number", "order__platform_id"]
    date_hierarchy = "shipped_at"
    raw_id_fields = ["order"]


class _FileProxyAdmin(StoredFileAdmin):
    """Listing and packing photos: evidence files, shown as the evidence admin shows them
    (read-only, the file behind the guarded views)."""

    list_display = ["__str__", "status", "content_type", "width", "height", "created_at"]
    list_filter = ["status", "content_type"]
    search_fields = ["original_name", "sha256"]


admin.site.register(ProductPhoto, _FileProxyAdmin)
admin.site.register(PackingEvidence, _FileProxyAdmin)


class PlatformClientForm(forms.ModelForm):
    class Meta:
        model = PlatformClient
        fields = ["tenant", "name", "merchants", "can_create_merchants"]

    def clean(self):
        cleaned = super().clean()
        tenant_id = cleaned["tenant"].pk if cleaned.get("tenant") else self.instance.tenant_id
        if tenant_id:
            _refused_as_form_error(
                "platform_client_check_shops",
                tenant_id=tenant_id,
                merchants=cleaned.get("merchants") or (),
            )
        return cleaned


@admin.register(PlatformClient)
class PlatformClientAdmin(PlatformScopedAdmin):
    """API clients, written through the services: a new client's token is shown once;
    revoking and issuing a new token are actions (a revoked token never comes back)."""

    form = PlatformClientForm
    list_display = [
        "name",
        "tenant",
        "token_prefix",
        "can_create_merchants",
        "is_active",
        "created_at",
        "revoked_at",
    ]
    list_filter = ["is_active", "can_create_merchants"]
    search_fields = ["name"]
    filter_horizontal = ["merchants"]
    actions = ["revoke", "rotate_token"]

    def get_readonly_fields(self, request, obj=None):
        fixed = ["token_prefix", "is_active", "created_at", "revoked_at"]
        return ["tenant", *fixed] if obj is not None else fixed

    def save_model(self, request, obj, form, change):
        from merchants import services

        data = form.cleaned_data
        if change:
            services.platform_client_update(
                client=obj,
                name=data["name"],
                merchants=data["merchants"],
                can_create_merchants=data["can_create_merchants"],
            )
            return
        client, token = services.platform_client_create(
            name=data["name"],
            merchants=data["merchants"],
            can_create_merchants=data["can_create_merchants"],
            tenant=data["tenant"],
        )
        obj.pk, obj.token_prefix, obj.created_at = client.pk, client.token_prefix, client.created_at
        self._show_token(request, client, token)

    def save_related(self, request, form, formsets, change):
        # The shops were set by the service; only inlines (none today) are left.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def _show_token(self, request, client, token):
        messages.warning(
            request,
            _("Token for %(name)s (shown once, store it now): %(token)s")
            % {"name": client.name, "token": token},
        )

    @admin.action(description=_("Revoke the selected clients' tokens"))
    def revoke(self, request, queryset):
        from merchants.services import platform_clients_revoke

        count = platform_clients_revoke(clients=list(queryset))
        messages.success(request, _("%(count)s client(s) revoked.") % {"count": count})

    @admin.action(description=_("Issue a new token to the selected clients"))
    def rotate_token(self, request, queryset):
        from merchants.services import platform_client_rotate_token

        for client in queryset:
            self._show_token(request, client, platform_client_rotate_token(client=client))
