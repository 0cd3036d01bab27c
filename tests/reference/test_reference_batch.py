"""Batch endpoints of the reference apps: many keyed writes in one call and one transaction, each item answered
as its single call would be, and interchangeable with the single call under the same Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable

from reference_support import Apps, digits, unique


def _account(number: str, name: str = "Batch account") -> dict[str, object]:
    return {"name": name, "crm_customer_number": number, "payment_terms": "NET30"}


def test_an_erp_batch_creates_each_account_and_refuses_only_the_bad_items(
    apps: Apps, key: Callable[[], str]
) -> None:
    numbers = [f"C-{digits()}" for _ in range(3)]
    keys = [key() for _ in range(4)]
    items = [
        {"idempotency_key": keys[0], **_account(numbers[0])},
        {"idempotency_key": keys[1], **_account(numbers[1]), "payment_terms": "NEVER"},
        {"idempotency_key": keys[2], **_account(numbers[2])},
        {"idempotency_key": keys[3], **_account(numbers[0], "Same customer again")},
    ]

    answer = apps.erp.post("/accounts/batch", json={"items": items})

    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201, 409]
    assert results[1]["body"]["field"] == "payment_terms" and results[3]["body"]["field"] == "crm_customer_number"
    assert [r["idempotency_key_status"] for r in results] == ["stored", "refused", "stored", "refused"]
    rows = apps.place.erp_rows(
        "SELECT crm_customer_number FROM accounts WHERE crm_customer_number IN (%s, %s, %s)", tuple(numbers)
    )
    assert sorted(r["crm_customer_number"] for r in rows) == sorted([numbers[0], numbers[2]])
    assert results[0]["body"]["crm_customer_number"] == numbers[0]


def test_a_batch_item_and_its_single_call_share_the_idempotency_key(apps: Apps, key: Callable[[], str]) -> None:
    number, idem = f"C-{digits()}", key()
    single = apps.erp.post("/accounts", json=_account(number), headers={"Idempotency-Key": idem})
    batched = apps.erp.post("/accounts/batch", json={"items": [{"idempotency_key": idem, **_account(number)}]})
    reused = apps.erp.post("/accounts/batch",
                           json={"items": [{"idempotency_key": idem, **_account(number, "Another body")}]})

    assert single.status_code == 201
    result = batched.json()["results"][0]
    assert (result["status"], result["idempotency_key_status"]) == (201, "replayed")
    assert result["body"] == single.json()
    assert reused.json()["results"][0]["status"] == 422
    assert len(apps.place.erp_rows("SELECT 1 FROM accounts WHERE crm_customer_number = %s", (number,))) == 1


def test_a_crm_batch_patches_each_customer_by_its_number(apps: Apps, key: Callable[[], str]) -> None:
    created = [
        apps.crm.post("/customers", json={"name": unique("Batch Co ")}).json()["customer_number"] for _ in range(2)
    ]
    idem = key()
    items = [
        {"idempotency_key": idem, "customer_number": created[0], "erp_account_id": 4711},
        {"idempotency_key": key(), "customer_number": created[1], "erp_account_id": 4712},
        {"idempotency_key": key(), "customer_number": "C-999999999", "erp_account_id": 4713},
        {"idempotency_key": key(), "customer_number": "not a number", "erp_account_id": 4714},
    ]

    answer = apps.crm.patch("/customers/batch", json={"items": items})
    again = apps.crm.patch(f"/customers/{created[0]}", json={"erp_account_id": 4711},
                           headers={"Idempotency-Key": idem})

    results = answer.json()["results"]
    assert [r["status"] for r in results] == [200, 200, 404, 422], answer.text
    assert results[3]["body"]["field"] == "customer_number"
    assert again.headers["Idempotency-Key-Status"] == "replayed" and again.json() == results[0]["body"]
    rows = apps.place.crm_rows(
        "SELECT customer_number, erp_account_id FROM customers WHERE customer_number = ANY(%s)", (created,)
    )
    assert {r["customer_number"]: r["erp_account_id"] for r in rows} == {created[0]: 4711, created[1]: 4712}


def test_a_batch_without_items_or_with_too_many_is_refused_whole(apps: Apps) -> None:
    empty = apps.erp.post("/accounts/batch", json={"items": []})
    too_many = apps.erp.post("/accounts/batch", json={"items": [{"name": "x"}] * 501})

    assert (empty.status_code, too_many.status_code) == (422, 422)
    assert empty.json()["field"] == "items"
