"""Every button path after a profile, history, deletion and language, through the
whole bot core (simulated services, virtual clock)."""

from __future__ import annotations

import csv
import io
import zipfile

import trio
from openpyxl import load_workbook
from tests.flows.harness import chat, simulated_bot

from bot.i18n import t

SALES = (
    "region;amount;units;date;comment\n"
    "North;1 200,50;3;01.01.2024;ok\n"
    'South;300,00;1;15.01.2024;=HYPERLINK("http://x")\n'
    "North;80,00;2;03.02.2024;ok\n"
    "East;450,25;5;20.02.2024;late\n"
    "South;99,75;1;05.03.2024;ok\n"
    "North;10,00;7;06.03.2024;ok\n"
).encode("cp1251")


def is_png(data: bytes | None) -> bool:
    return bool(data) and data[:8] == b"\x89PNG\r\n\x1a\n"


async def profile_of(c, name: str = "sales.csv", data: bytes = SALES):
    seq = c.upload(name, data)
    return await c.with_buttons(seq, "h:")


async def test_distribution_top_and_correlation_buttons(autojump_clock):
    async with simulated_bot() as world:
        c = chat(world, 9001)
        profile = await profile_of(c)
        upload_id = profile.button_data[0].split(":")[1]

        seq = c.press(profile, f"h:{upload_id}")
        picker = await c.with_buttons(seq, "hc:")
        assert "Choose a column" in (picker.text or "")
        seq = c.press(picker, picker.button_data[0])
        photo = await c.next(seq, lambda r: r.kind == "photo")
        assert is_png(photo.data)

        seq = c.press(profile, f"t:{upload_id}")
        picker = await c.with_buttons(seq, "tc:")
        seq = c.press(picker, f"tc:{upload_id}:0")  # region
        table = await c.with_buttons(seq, "xc:")
        assert "North" in (table.text or "")

        seq = c.press(profile, f"c:{upload_id}")
        await c.with_buttons(seq, "xc:")
        heatmap = await c.next(seq, lambda r: r.kind == "photo")
        assert is_png(heatmap.data)


async def test_the_report_button_sends_the_full_profile_as_html(autojump_clock):
    async with simulated_bot() as world:
        c = chat(world, 9008)
        profile = await profile_of(c)
        upload_id = profile.button_data[0].split(":")[1]
        seq = c.press(profile, f"r:{upload_id}")
        report = await c.next(seq, lambda r: r.kind == "document")
        assert report.file_name == "sales_profile.html"
        page = (report.data or b"").decode()
        assert page.startswith("<!doctype html>") and "How the file was read" in page


async def test_the_excel_report_button_sends_the_full_profile_as_a_workbook(autojump_clock):
    async with simulated_bot() as world:
        c = chat(world, 9010, language="ru")
        profile = await profile_of(c)
        upload_id = profile.button_data[0].split(":")[1]
        assert f"rx:{upload_id}" in profile.button_data
        seq = c.press(profile, f"rx:{upload_id}")
        report = await c.next(seq, lambda r: r.kind == "document")
        assert report.file_name == "sales_profile.xlsx"
        book = load_workbook(io.BytesIO(report.data or b""))
        assert book.sheetnames[:4] == ["Обзор", "Столбцы", "Предупреждения", "Как прочитан файл"]
        comments = [row for row in book["Группировки"].iter_rows() if row[0].value == "comment"]
        cells = [cell for row in comments for cell in row]
        assert any(cell.value == '=HYPERLINK("http://x")' and cell.data_type == "s" for cell in cells)


async def test_a_wide_file_comes_with_its_full_profile_as_a_file(autojump_clock):
    header = ";".join(f"k{i}" for i in range(150))
    rows = "\n".join(";".join(str(r * i % 13) for i in range(150)) for r in range(12))
    async with simulated_bot() as world:
        c = chat(world, 9009)
        seq = c.upload("wide.csv", f"{header}\n{rows}\n".encode())
        report = await c.next(seq, lambda r: r.kind == "document")
        assert report.file_name == "wide_profile.html"
        assert (report.data or b"").count(b'<div class="c"') == 150


async def test_group_by_is_a_three_step_flow_with_exports(autojump_clock):
    async with simulated_bot() as world:
        c = chat(world, 9002)
        profile = await profile_of(c)
        upload_id = profile.button_data[0].split(":")[1]

        seq = c.press(profile, f"g:{upload_id}")
        by = await c.with_buttons(seq, "gb:")
        seq = c.press(by, f"gb:{upload_id}:0")  # by region
        value = await c.with_buttons(seq, "gv:")
        seq = c.press(value, f"gv:{upload_id}:2")  # units
        agg = await c.with_buttons(seq, "ga:")
        seq = c.press(agg, f"ga:{upload_id}:sum")
        table = await c.with_buttons(seq, "xc:")
        text = table.text or ""
        assert "North" in text and "12" in text  # 3 + 2 + 7 units in the north

        seq = c.press(table, f"xc:{upload_id}")
        exported = await c.next(seq, lambda r: r.kind == "document")
        assert exported.file_name == "result.csv"
        rows = list(csv.reader(io.StringIO((exported.data or b"").decode("utf-8-sig"))))
        assert ["North", "12"] in [row[:2] for row in rows]

        seq = c.press(table, f"xx:{upload_id}")
        workbook = await c.next(seq, lambda r: r.kind == "document")
        assert workbook.file_name == "result.xlsx"
        assert zipfile.is_zipfile(io.BytesIO(workbook.data or b""))


async def test_time_series_needs_a_date_then_a_value(autojump_clock):
    async with simulated_bot() as world:
        c = chat(world, 9003, "ru")
        profile = await profile_of(c)
        upload_id = profile.button_data[0].split(":")[1]
        seq = c.press(profile, f"s:{upload_id}")
        dates = await c.with_buttons(seq, "sd:")
        assert "дат" in (dates.text or "")
        seq = c.press(dates, f"sd:{upload_id}:3")
        values = await c.with_buttons(seq, "sv:")
        seq = c.press(values, values.button_data[0])
        photo = await c.next(seq, lambda r: r.kind == "photo")
        assert is_png(photo.data)


async def test_a_step_whose_state_expired_asks_to_start_again(autojump_clock):
    async with simulated_bot() as world:
        c = chat(world, 9004)
        profile = await profile_of(c)
        upload_id = profile.button_data[0].split(":")[1]
        seq = c.press(profile, f"g:{upload_id}")
        by = await c.with_buttons(seq, "gb:")
        seq = c.press(by, f"gb:{upload_id}:0")
        value = await c.with_buttons(seq, "gv:")
        world.stack.state.lose_everything()  # Redis restarted without persistence
        seq = c.press(value, f"gv:{upload_id}:2")
        answer = await c.next(seq, lambda r: r.kind == "message")
        assert "start it again" in (answer.text or "")


async def test_nobody_can_reach_another_users_upload(autojump_clock):
    async with simulated_bot() as world:
        owner = chat(world, 9005)
        profile = await profile_of(owner)
        upload_id = profile.button_data[0].split(":")[1]
        intruder = chat(world, 9006)
        seq = world.last_seq
        # a crafted callback from another user's chat, naming the owner's upload
        msg = intruder.say("/start")
        hello = await intruder.next(msg)
        world.user_presses_button(
            intruder.user, intruder.chat_id, hello.message_id, f"hc:{upload_id}:0", forged=True
        )
        answer = await intruder.next(
            hello.seq, lambda r: r.kind in ("message", "photo") and r.seq > hello.seq
        )
        assert answer.kind == "message" and "no longer available" in (answer.text or "")
        assert not [r for r in world.records_after(seq, intruder.chat_id) if r.kind == "photo"]


async def test_history_reopen_delete_and_forget(autojump_clock):
    async with simulated_bot() as world:
        c = chat(world, 9007)
        await profile_of(c, "first.csv")
        await profile_of(c, "second.csv")

        seq = c.say("/history")
        history = await c.with_buttons(seq, "p:")
        text = history.text or ""
        assert text.index("second.csv") < text.index("first.csv"), "newest first"
        seq = c.press(history, history.button_data[1])  # reopen first.csv
        again = await c.with_buttons(seq, "h:")
        assert "first.csv" in (again.text or "") or "first.csv" in str(world.records_after(seq, c.chat_id))

        seq = c.say("/delete 1")
        deleted = await c.next(seq)
        assert "second.csv" in (deleted.text or "")
        assert [u.file_name for u in await world.stack.repo.list_uploads(c.chat_id, 10)] == ["first.csv"]

        seq = c.say("/forget")
        confirm = await c.with_buttons(seq, "fy:")
        seq = c.press(confirm, "fy:all")
        done = await c.next(seq, lambda r: r.kind == "message")
        assert "1 uploads" in (done.text or "")
        assert await world.stack.repo.list_uploads(c.chat_id, 10) == []
        assert await world.stack.blobs.list_keys(f"{c.chat_id}/") == []


async def test_language_switch_and_admin_only_commands(autojump_clock):
    async with simulated_bot(admin_ids=frozenset({9009})) as world:
        c = chat(world, 9008, "en")
        seq = c.say("/lang")
        assert "русский" in ((await c.next(seq)).text or "")
        seq = c.say("/help")
        assert "Как пользоваться" in ((await c.next(seq)).text or "")
        seq = c.say("/stats")
        assert "администратор" in ((await c.next(seq)).text or "")
        admin = chat(world, 9009, "en")
        seq = admin.say("/stats")
        assert "Stats" in ((await admin.next(seq)).text or "")
        log = await world.stack.repo.admin_actions(10)
        entries = [(a.admin_id, a.action, a.detail) for a in log]
        assert entries == [(9009, "stats", ""), (9008, "denied", "/stats")]


async def test_start_greets_in_the_language_stored_for_the_user(autojump_clock):
    # /start stores the user and reads their language in one call: a user who chose Russian
    # before (this process has not seen them) is greeted in Russian from an English client,
    # and a new user in their client's language.
    async with simulated_bot() as world:
        await world.stack.repo.set_user_language(9012, "ru")
        calls = world.stack.fault_stats.calls
        before = calls.get("repo.get_user_language", 0)
        known, new = chat(world, 9012, "en"), chat(world, 9013, "ru")
        assert t("ru", "start") == (await known.next(known.say("/start"))).text
        assert t("ru", "start") == (await new.next(new.say("/start"))).text
        seq = known.say("/help")  # the language is remembered for what follows
        assert "Как пользоваться" in ((await known.next(seq)).text or "")
        assert calls.get("repo.get_user_language", 0) == before  # /start read it with the store
        assert await world.stack.repo.get_user_language(9013) == "ru"


async def test_a_bug_in_the_analysis_ends_the_job_with_a_message_and_the_bot_goes_on(
    autojump_clock, monkeypatch
):
    from bot import analysis

    real = analysis.analyse_csv

    def broken(data: bytes, file_name: str):
        if file_name == "boom.csv":
            raise TypeError("a bug")
        return real(data, file_name)

    monkeypatch.setattr(analysis, "analyse_csv", broken)
    async with simulated_bot() as world:
        c = chat(world, 9010)
        seq = c.upload("boom.csv", SALES)
        failure = await c.next(seq, lambda r: "could not finish" in (r.text or ""))
        assert "boom.csv" in (failure.text or "")
        profile = await profile_of(c, "fine.csv")  # the bot is still serving
        assert profile.button_data


async def test_a_user_who_blocked_the_bot_is_not_retried(autojump_clock):
    async with simulated_bot() as world:
        c = chat(world, 9011)
        seq = c.say("/start")
        await c.next(seq)  # the chat exists; now the user blocks the bot
        world.set_blocked(c.chat_id)
        before = world.calls["sendMessage"]
        c.say("/help")
        await trio.sleep(120)
        # the reply and the apology are refused (403) once each: no retry loop on a refusal
        assert world.calls["sendMessage"] - before == 2


async def test_stats_shows_what_the_metrics_port_counted(autojump_clock):
    async with simulated_bot(admin_ids=frozenset({9010})) as world:
        admin = chat(world, 9010, "en")
        await profile_of(admin)
        seq = admin.upload("photo.jpg", b"\xff\xd8", mime="image/jpeg")
        await admin.next(seq)
        seq = admin.say("/stats")
        text = (await admin.next(seq)).text or ""
        assert "uploads accepted: 1, analysed: 1, rejected: 1, failed: 0" in text
        assert "updates handled: 3" in text  # the upload, the photo and /stats itself
