"""Domain errors of the refunds app, translated once at the edge (form, message, API)."""

from django.utils.translation import gettext_lazy as _


class ClaimError(Exception):
    """Base class; ``message`` is safe to show to the user who caused it."""

    default_message = _("This action is not possible.")

    def __init__(self, message: str | None = None) -> None:
        self.message = message or str(self.default_message)
        super().__init__(self.message)


class IllegalTransition(ClaimError):
    default_message = _("This claim cannot move to that status now.")


class ClaimValidationError(ClaimError):
    default_message = _("The claim is not valid.")


class AlreadyExists(ClaimValidationError):
    """The thing is already recorded (a platform id, a tracking number, an open claim)."""

    default_message = _("This is already recorded.")


class ConfirmationRequired(ClaimValidationError):
    """A money answer sent without the confirmation of the amount it pays (or with the
    confirmation of another amount): nothing was done."""

    default_message = _("Please confirm the amount first.")


class NotAllowed(ClaimError):
    default_message = _("You are not allowed to do that.")


class NothingToReview(ClaimError):
    default_message = _("There is no claim waiting in this queue.")
