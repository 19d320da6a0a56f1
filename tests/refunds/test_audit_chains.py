"""Per-claim audit chains anchored in checkpoints (issue 13): independent claims append in
parallel, and tampering is still found per claim and across the checkpoint sequence."""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction

from refunds import audit
from refunds.audit import Actor, verify_chain
from refunds.models import AuditEvent, RefundClaim

ON_POSTGRES = connection.vendor == "postgresql"


def _triggers_off() -> None:
    with connection.cursor() as cursor:
        if ON_POSTGRES:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE refunds_auditevent DISABLE TRIGGER USER")
        else:
            cursor.execute("DROP TRIGGER refunds_auditevent_no_update")
            cursor.execute("DROP TRIGGER refunds_auditevent_no_delete")


@pytest.fixture
def claims(make_claim, shop_a):
    made = [make_claim(shop_a) for _ in range(3)]  # 3 events each
    assert AuditEvent.objects.count() == 9
    return made


def test_each_claim_has_its_own_chain(claims):
    for claim in claims:
        chain = list(AuditEvent.objects.filter(chain_key=claim.pk).order_by("chain_seq"))
        assert [e.chain_seq for e in chain] == [1, 2, 3]
        assert chain[0].prev_hash == audit.GENESIS
        assert [e.prev_hash for e in chain[1:]] == [e.hash for e in chain[:-1]]
    report = audit.verify_full()
    assert (report.checked, report.chains, report.broken) == (9, 3, None)


def test_removing_a_claims_whole_chain_is_found_by_the_checkpoint(claims, media_in_tmp):
    audit.checkpoint_write()
    _triggers_off()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM refunds_auditevent WHERE chain_key = %s", [claims[1].pk])

    assert verify_chain() == (6, None)  # what is left is intact, chain by chain
    _checkpoint, problem = audit.verify_checkpoint()
    assert "#1–#9" in problem and "removed, added or rewritten" in problem


def test_a_rewrite_in_an_older_segment_is_found_by_the_full_check_only(
    claims, media_in_tmp, make_claim, shop_a
):
    first = audit.checkpoint_write()
    make_claim(shop_a)
    second = audit.checkpoint_write()
    assert (first.seq, second.seq, second.prev_seq) == (9, 12, 9)
    _triggers_off()
    victim = AuditEvent.objects.get(seq=2)  # in the first segment, claim 1's chain
    chain = AuditEvent.objects.filter(chain_key=victim.chain_key).order_by("chain_seq")
    prev = audit.GENESIS
    for event in chain:  # rewrite claim 1's chain with every hash recomputed
        if event.pk == victim.pk:
            event.reason = "rewritten"
        event.prev_hash = prev
        event.hash = audit.compute_hash(event)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE refunds_auditevent SET reason = %s, prev_hash = %s, hash = %s "
                "WHERE id = %s",
                [event.reason, event.prev_hash, event.hash, event.pk],
            )
        prev = event.hash

    assert verify_chain() == (12, None)
    assert audit.verify_checkpoints(last=1)[1] is None  # the newest segment is untouched
    checked, problem = audit.verify_checkpoints()
    assert len(checked) == 1 and "#1–#9" in problem
    with pytest.raises(CommandError, match="does not match its checkpoint"):
        call_command("verify_audit")


def test_a_forged_checkpoint_file_breaks_the_root_sequence(
    claims, media_in_tmp, make_claim, shop_a
):
    audit.checkpoint_write()
    make_claim(shop_a)
    second = audit.checkpoint_write()
    path = media_in_tmp / second.name
    path.write_text(path.read_text().replace(second.root, "0" * 64))

    _checked, problem = audit.verify_checkpoints()
    assert "root does not chain" in problem


def test_incremental_verification_reads_only_what_is_newer(
    claims, media_in_tmp, make_claim, shop_a, capsys
):
    audit.checkpoint_write()
    newer = make_claim(shop_a)
    report = audit.verify_since(audit.checkpoint_latest().seq)
    assert (report.checked, report.chains, report.broken) == (3, 1, None)
    call_command("verify_audit", "--incremental")
    assert "3 events verified (since checkpoint event #9, 1 chains" in capsys.readouterr().out

    _triggers_off()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE refunds_auditevent SET reason = 'changed' WHERE chain_key = %s "
            "AND chain_seq = 2",
            [newer.pk],
        )
    broken = audit.verify_since(9).broken
    assert broken is not None and "does not match its hash" in broken.problem
    with pytest.raises(CommandError, match="broken at event #11"):
        call_command("verify_audit", "--incremental")


def test_the_chains_start_from_the_legacy_chains_head(db, make_claim, shop_a):
    """What the migration leaves: events of one global chain (chain columns NULL), which
    keep their hashes; later chains link their first event to its head."""
    prev = audit.GENESIS
    for seq in (1, 2, 3):
        event = AuditEvent(
            seq=seq,
            actor_label="system:old",
            action="old",
            data={},
            created_at=audit.timezone.now(),
            prev_hash=prev,
        )
        event.hash = audit.compute_hash(event)
        event.save(force_insert=True)
        prev = event.hash
    if ON_POSTGRES:  # what the migration does: the sequence continues after them
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval('refunds_auditevent_seq_seq', 3)")
    claim = make_claim(shop_a)

    first = AuditEvent.objects.get(chain_key=claim.pk, chain_seq=1)
    assert first.seq == 4 and first.prev_hash == prev
    assert verify_chain() == (6, None)
    _triggers_off()
    with connection.cursor() as cursor:  # cut the legacy chain's tail
        cursor.execute("DELETE FROM refunds_auditevent WHERE seq = 3")
    _checked, broken = verify_chain()
    assert broken.seq == 4 and "previous-hash" in broken.problem


def test_a_fork_of_a_chain_is_refused(claims):
    from django.db import IntegrityError

    last = AuditEvent.objects.filter(chain_key=claims[0].pk).order_by("-chain_seq").first()
    twin = AuditEvent(
        seq=99,
        claim=claims[0],
        chain_key=last.chain_key,
        chain_seq=last.chain_seq,
        actor_label="x",
        action="x",
        created_at=last.created_at,
        prev_hash=last.prev_hash,
        hash="f" * 64,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save(force_insert=True)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_independent_claims_append_while_another_transaction_is_open(make_claim, shop_a):
    """With one global lock the second writer waited for the first one's commit; now it
    commits while the first transaction is still open."""
    first, second = make_claim(shop_a), make_claim(shop_a)
    appended, finished = threading.Event(), threading.Event()
    outcome = {}

    def hold_open():
        try:
            with transaction.atomic():
                audit.record(action="held", actor=Actor.system("test"), claim=first)
                appended.set()
                outcome["other_done_meanwhile"] = finished.wait(timeout=30)
        finally:
            connections.close_all()

    def append_other():
        try:
            appended.wait(timeout=30)
            with transaction.atomic():
                audit.record(action="other", actor=Actor.system("test"), claim=second)
            finished.set()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hold_open), threading.Thread(target=append_other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcome["other_done_meanwhile"] is True
    assert verify_chain() == (AuditEvent.objects.count(), None)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_writers_leave_every_chain_intact(make_claim, shop_a, media_in_tmp):
    claims = [make_claim(shop_a) for _ in range(4)]
    barrier = threading.Barrier(8)

    def write(index: int):
        try:
            barrier.wait(timeout=30)
            for n in range(10):
                with transaction.atomic():
                    # Two writers per claim: they queue on that claim's chain only.
                    audit.record(
                        action="touched",
                        actor=Actor.system(f"writer-{index}"),
                        claim=RefundClaim(pk=claims[index % 4].pk),
                        data={"n": n},
                    )
                if index == 0 and n == 5:
                    audit.checkpoint_write()  # while the others write
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    audit.checkpoint_write()

    assert AuditEvent.objects.filter(action="touched").count() == 80
    report = audit.verify_full()
    assert report.broken is None and report.checked == AuditEvent.objects.count()
    assert audit.verify_checkpoints()[1] is None
    for claim in claims:
        places = list(
            AuditEvent.objects.filter(chain_key=claim.pk)
            .order_by("chain_seq")
            .values_list("chain_seq", flat=True)
        )
        assert places == list(range(1, len(places) + 1))


@pytest.mark.django_db(transaction=True)
def test_the_scale_migration_keeps_an_existing_chain_and_continues_after_it():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()  # every app: going back unapplies their dependants
    before = [("refunds", "0004_leases_and_take_next")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("refunds", "AuditEvent")
    prev = audit.GENESIS
    for seq in (1, 2, 3):  # the global chain as the code before per-claim chains wrote it
        event = old(
            seq=seq,
            actor_label="system:old",
            action="old",
            data={},
            created_at=audit.timezone.now(),
            prev_hash=prev,
        )
        event.hash = audit.compute_hash(event)
        event.save(force_insert=True)
        prev = event.hash

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(latest)
    with transaction.atomic():
        new = audit.record(action="after", actor=Actor.system("test"))

    assert AuditEvent.objects.filter(chain_seq__isnull=True).count() == 3  # kept as they were
    assert (new.seq, new.chain_key, new.chain_seq, new.prev_hash) == (4, 0, 1, prev)
    assert verify_chain() == (4, None)


def test_the_full_walk_reads_each_chain_kind_in_one_pass_whatever_the_events(
    claims, make_claim, shop_a, django_assert_max_num_queries
):
    # One query per pass (the legacy chain, the claims' chains) and the legacy head: the
    # keyset batches re-read the chain index from its start for every batch (quadratic:
    # the full walk did not finish in 18 minutes at 1M claims).
    with django_assert_max_num_queries(5):
        report = audit.verify_full(batch_size=2)
    assert (report.checked, report.chains, report.broken) == (9, 3, None)
    make_claim(shop_a)
    with django_assert_max_num_queries(5):
        assert audit.verify_full(batch_size=2).checked == 12


def test_the_incremental_walk_reads_older_links_once_per_batch(
    claims, media_in_tmp, make_claim, shop_a, django_assert_max_num_queries
):
    audit.checkpoint_write()
    for claim in claims:  # each chain continues after the checkpoint
        audit.record(action="note", actor=Actor.system("test"), claim=claim)
    newer = make_claim(shop_a)
    # the legacy head, one batch of events, their chains' older links, the empty batch
    with django_assert_max_num_queries(4):
        report = audit.verify_since(audit.checkpoint_latest().seq)
    assert (report.checked, report.chains, report.broken) == (6, 4, None)

    _triggers_off()
    with connection.cursor() as cursor:  # an older link (before the checkpoint) altered
        cursor.execute(
            "UPDATE refunds_auditevent SET reason = 'changed' WHERE chain_key = %s "
            "AND chain_seq = 3",
            [claims[0].pk],
        )
    broken = audit.verify_since(audit.checkpoint_latest().seq).broken
    assert broken is not None and "does not match its hash" in broken.problem
    assert newer.pk != claims[0].pk


@pytest.mark.django_db
def test_the_log_has_no_index_on_random_hashes_nor_a_duplicate_claim_index():
    """Each append wrote its random SHA-256 into a unique index (and on PostgreSQL a LIKE
    twin): 1.5 GB read back page by page at 6M events. A claim's events are found through
    audit_by_claim (claim_id, seq)."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, AuditEvent._meta.db_table)
    indexed = [
        c["columns"]
        for c in constraints.values()
        if (c["index"] or c["unique"]) and not c["foreign_key"] and not c["primary_key"]
    ]
    assert ["claim_id"] not in indexed
    assert ["claim_id", "seq"] in indexed
    if connection.vendor == "postgresql":  # SQLite keeps its inline UNIQUE (migration 0020)
        assert ["hash"] not in indexed
