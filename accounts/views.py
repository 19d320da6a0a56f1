"""Account pages: log in (in the language the user chose), the language switch (stored
on the account of a signed-in user), password reset and change, the profile page."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse_lazy
from django.utils.translation import ngettext
from django.views import i18n
from django.views.decorators.http import require_GET

from accounts import services, throttle
from accounts.forms import AccountPasswordResetForm
from accounts.selectors import stored_language
from merchants.selectors import memberships_for_user
from refunds import policy


def _set_language_cookie(response, language: str) -> None:
    """The cookie Django's ``set_language`` sets, which ``LocaleMiddleware`` reads."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


class LoginView(auth_views.LoginView):
    """Django's login (django-axes throttles it); from here on the pages are in the
    language the user chose, whatever the browser says."""

    def form_valid(self, form):
        response = super().form_valid(form)
        language = stored_language(user=form.get_user())
        if language:
            _set_language_cookie(response, language)
        return response


def set_language(request):
    """Django's ``set_language``; a signed-in user's choice is also stored on the account
    (so the next login, on any device, and their e-mails use it)."""
    response = i18n.set_language(request)
    chosen = response.cookies.get(settings.LANGUAGE_COOKIE_NAME)
    if chosen is not None and request.user.is_authenticated:
        language = chosen.value
        if language in dict(settings.LANGUAGES):
            services.profile_set_language(user=request.user, language=language)
    return response


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request: the same "check your e-mail" page whether or not an account
    uses the address; throttled per address and per client (:mod:`accounts.throttle`)."""

    form_class = AccountPasswordResetForm
    subject_template_name = "registration/password_reset_subject.txt"
    email_template_name = "registration/password_reset_email.txt"

    def form_valid(self, form):
        if not throttle.client_allowed(self.request):
            minutes = throttle.window_minutes()
            form.add_error(
                None,
                ngettext(
                    "Too many password resets were asked for from your network. Try again "
                    "in %(minutes)s minute.",
                    "Too many password resets were asked for from your network. Try again "
                    "in %(minutes)s minutes.",
                    minutes,
                )
                % {"minutes": minutes},
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        if not throttle.address_allowed(form.cleaned_data["email"]):
            # Answered as any other request: whether the address is used stays unknown.
            return HttpResponseRedirect(self.get_success_url())
        self.extra_email_context = {"hours": settings.PASSWORD_RESET_TIMEOUT // 3600}
        return super().form_valid(form)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "window_minutes": throttle.window_minutes()}


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "address_limit": settings.PASSWORD_RESET_ADDRESS_LIMIT,
            "window_minutes": throttle.window_minutes(),
        }


class PasswordChangeView(auth_views.PasswordChangeView):
    success_url = reverse_lazy("password_change_done")


@login_required
@require_GET
def profile(request):
    """Who the user is here: their shops and role in each, their platform roles, their
    language."""
    user = request.user
    roles = policy.roles(user)
    shops = [
        {
            "merchant": membership.merchant,
            "role": membership.get_role_display(),
            # What the shop's pages and services let them do (refunds.policy).
            "manages": bool(policy.can_manage_members(user, membership.merchant)),
        }
        for membership in memberships_for_user(user=user)
    ]
    return render(
        request,
        "accounts/profile.html",
        {
            "shops": shops,
            "reviewer": roles.reviewer,
            "senior": roles.senior,
            "language": stored_language(user=user),
            "show_review_nav": roles.reviewer,
        },
    )
