from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination


class ApiPagination(PageNumberPagination):
    """Page numbers; a malformed ``page`` or ``page_size`` is an error, not ignored."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not (raw.isascii() and raw.isdigit()):
            raise ValidationError({self.page_query_param: [_("A whole number of at least 1.")]})
        return super().get_page_number(request, paginator)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
            raise ValidationError(
                {self.page_size_query_param: [_("A whole number of at least 1.")]}
            )
        return super().get_page_size(request)


class ApiCursorPagination(CursorPagination):
    """Keyset pagination for the long lists (claims, orders): ``?cursor=`` is the opaque
    position ``next``/``previous`` give; each page is one index range read, however deep,
    and no COUNT(*) over the client's rows. Ordering comes from ``?ordering=`` (one of
    the view's ``cursor_ordering_fields``, ``-`` for descending) with the id as the
    tie-breaker, so the position is unique."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-id")

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
            raise ValidationError(
                {self.page_size_query_param: [_("A whole number of at least 1.")]}
            )
        return super().get_page_size(request)

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get("ordering", "")
        allowed = getattr(view, "cursor_ordering_fields", ())
        if raw:
            if raw.lstrip("-") not in allowed:
                raise ValidationError({"ordering": [_("Not a field this list is ordered by.")]})
            tie = "-id" if raw.startswith("-") else "id"
            return (raw,) if raw.lstrip("-") == "id" else (raw, tie)
        return self.ordering
