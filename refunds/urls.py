from django.urls import path

from refunds import views
from refunds.views import merchant, reviewer

urlpatterns = [
    path("", views.home, name="home"),
    # Merchants
    path("claims/", merchant.inbox, name="merchant_inbox"),
    path("claims/<int:claim_id>/", merchant.claim_page, name="merchant_claim"),
    path(
        "claims/<int:claim_id>/evidence/",
        merchant.claim_add_evidence,
        name="merchant_claim_evidence",
    ),
    path("claims/<int:claim_id>/appeal/", merchant.claim_appeal, name="merchant_claim_appeal"),
    path(
        "claims/<int:claim_id>/ai-suspect/",
        merchant.claim_flag_ai_suspect,
        name="merchant_claim_ai_suspect",
    ),
    path(
        "claims/<int:claim_id>/evidence-pack.zip",
        merchant.claim_evidence_pack,
        name="merchant_claim_evidence_pack",
    ),
    # Reviewers
    path("review/", reviewer.queues, name="review_queues"),
    path("review/next/", reviewer.take_next, name="review_take_next"),
    path("review/mine/", reviewer.my_claims, name="review_mine"),
    path("review/bulk/", reviewer.bulk, name="review_bulk"),
    path("review/claims/<int:claim_id>/", reviewer.review_claim, name="review_claim"),
    path("review/claims/<int:claim_id>/take/", reviewer.assign, name="review_assign"),
    path("review/claims/<int:claim_id>/decide/", reviewer.decide, name="review_decide"),
    path(
        "review/claims/<int:claim_id>/request-evidence/",
        reviewer.request_evidence,
        name="review_request_evidence",
    ),
    path("review/claims/<int:claim_id>/release/", reviewer.release, name="review_release"),
    path(
        "review/claims/<int:claim_id>/escalate-legal/",
        reviewer.escalate_legal,
        name="review_escalate_legal",
    ),
    path(
        "review/claims/<int:claim_id>/evidence-pack.zip",
        reviewer.evidence_pack,
        name="review_evidence_pack",
    ),
]
