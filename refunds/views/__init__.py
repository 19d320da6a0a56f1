"""Browser pages: merchants answer claims, reviewers decide them."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from merchants.selectors import merchants_for_user
from refunds import policy


@login_required
def home(request):
    """Send reviewers to the queues and merchants to their inbox."""
    if policy.is_reviewer(request.user):
        return redirect("review_queues")
    if merchants_for_user(user=request.user).exists():
        return redirect("merchant_inbox")
    return render(request, "refunds/no_role.html")
