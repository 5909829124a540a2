"""A user talks to the real bot over the real stack and gets the right answers."""

from __future__ import annotations

import pytest
from tests.e2e.stack import real_stack

from bot.domain import TgUser

pytestmark = pytest.mark.e2e

SALES = (
    "city;amount;date\n"
    "Москва;1 234,50;01.02.2024\n"
    "Казань;100,00;02.02.2024\n"
    "Москва;65,50;03.02.2024\n"
    "Итого;1 400,00;\n"
).encode("cp1251")


async def test_user_uploads_a_csv_and_receives_its_profile(tmp_path):
    async with real_stack(tmp_path) as stack:
        world = stack.world
        user = TgUser(id=501, language_code="ru", first_name="Аня")
        world.user_sends_text(user, 501, "/start")
        hello = await world.wait_for_bot_message(501, timeout=20)
        assert "CSV" in (hello.text or "")

        seq = world.last_seq
        world.user_sends_document(user, 501, "продажи.csv", SALES, mime_type="text/csv")
        receipt = await world.wait_for_bot_message(501, after_seq=seq, timeout=20)
        assert "продажи.csv" in (receipt.text or "")
        profile = await world.wait_for_bot_message(
            501, lambda r: r.kind == "message" and bool(r.button_data), after_seq=receipt.seq, timeout=60
        )
        # the profile may span several messages; the last one carries the buttons
        text = "\n".join(r.text or "" for r in world.records_after(receipt.seq, 501) if r.seq <= profile.seq)
        text = text.replace("\u00a0", " ").replace("\u202f", " ")
        # cp1251, ';', decimal comma, thousands space, totals row dropped: 3 data rows
        assert "Строк: 3" in text
        assert "Windows-1251" in text
        assert "Итого" in text  # the note that the totals row was left out
        assert "Москва" in text
        assert "сумма 1 400" in text
        assert profile.button_data, "the profile comes with analysis buttons"

        # The stored blob is in the user's folder, and the job finished.
        keys = await stack.services.blobs.list_keys("501/")
        assert len(keys) == 1 and keys[0].endswith("_prodazhi.csv")
        uploads = await stack.services.repo.list_uploads(501, 10)
        assert [u.file_name for u in uploads] == ["продажи.csv"]


async def test_non_csv_and_oversized_documents_are_refused_with_a_reason(tmp_path):
    async with real_stack(tmp_path) as stack:
        world = stack.world
        user = TgUser(id=502, language_code="en")
        world.user_sends_document(
            user, 502, "photo.jpg", b"\xff\xd8\xff\xe0" + b"0" * 100, mime_type="image/jpeg"
        )
        refusal = await world.wait_for_bot_message(502, timeout=20)
        assert "does not look like a CSV" in (refusal.text or "")

        seq = world.last_seq
        world.user_sends_document(user, 502, "broken.csv", b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
        await world.wait_for_bot_message(502, after_seq=seq, timeout=20)  # the receipt
        answer = await world.wait_for_bot_message(
            502,
            lambda r: "gzip" in (r.text or "").lower() or "compressed" in (r.text or "").lower(),
            after_seq=seq,
            timeout=60,
        )
        assert answer.text
        assert await stack.services.repo.list_uploads(502, 10)  # recorded, answered, nothing silent


BOM_TSV = (
    "\ufeffproduct\tprice\tsold_at\nЧай\t120.5\t2024-03-01 10:00\nКофе\t340\t2024-03-02 11:30\n"
).encode()
TOTALS_EN = b"item,qty,amount\npen,2,3.50\nbook,1,12.00\nTotal,3,15.50\n"


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("bom.tsv", BOM_TSV, ["2 rows", "UTF-8", "product", "price", "2024-03-01"]),
        ("totals.csv", TOTALS_EN, ["2 rows", "sum 15.5", "Total"]),
    ],
)
async def test_bom_and_totals_files_profile_through_the_whole_bot(tmp_path, name, data, expected):
    async with real_stack(tmp_path) as stack:
        world = stack.world
        user = TgUser(id=503, language_code="en")
        seq = world.last_seq
        world.user_sends_document(user, 503, name, data)
        profile = await world.wait_for_bot_message(
            503, lambda r: r.kind == "message" and bool(r.button_data), after_seq=seq, timeout=60
        )
        text = "\n".join(r.text or "" for r in world.records_after(seq, 503) if r.seq <= profile.seq)
        for fragment in expected:
            assert fragment in text, (fragment, text)
        assert "\ufeff" not in text  # the BOM is not part of the first column's name
