import pytest

from adapters.compose import RealConfig
from bot.blob_keys import blob_key, safe_file_name
from bot.domain import TgDocument
from bot.policy import OPS, POLICIES
from bot.settings import DEFAULT_DEADLINES, Settings, SettingsError, settings_from_env
from bot.uploads import looks_like_csv


def test_defaults_match_the_design_table():
    assert DEFAULT_DEADLINES["db.connect"] == 5
    assert DEFAULT_DEADLINES["db.statement"] == 10
    assert DEFAULT_DEADLINES["handler"] == 8
    assert DEFAULT_DEADLINES["storage.upload"] == 15
    assert DEFAULT_DEADLINES["storage.download"] == 10


def test_every_operation_has_one_policy():
    assert set(POLICIES) == set(OPS)
    settings = Settings()
    assert all(settings.policy(op) == POLICIES[op] for op in OPS)


def test_environment_overrides_deadlines_retries_and_fields():
    settings = settings_from_env(
        {
            "DEADLINE_STORAGE_UPLOAD": "3.5",
            "RETRY_STORAGE_UPLOAD_ATTEMPTS": "2",
            "BOT_WORKER_CONCURRENCY": "5",
            "ADMIN_IDS": "1, 2",
        },
        env_file=None,
    )
    assert settings.deadline("storage.upload") == 3.5
    assert settings.retries["storage.upload"].attempts == 2
    assert settings.retries["storage.upload"].wait_max == POLICIES["storage.upload"].retry.wait_max
    assert settings.deadline("db.statement") == 10
    assert settings.worker_concurrency == 5
    assert settings.admin_ids == frozenset({1, 2})


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("DEADLINE_HANDLER=4\nBOT_POLL_TIMEOUT_S=7\nSESSION_LIMIT=3\n")
    settings = settings_from_env({"BOT_POLL_TIMEOUT_S": "9"}, env_file=dotenv)
    assert settings.deadline("handler") == 4
    assert settings.poll_timeout_s == 9
    assert RealConfig.from_env({}, env_file=dotenv).session_limit == 3


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEADLINE_DB_CONNECT", "soon"),
        ("DEADLINE_HANDLER", "-1"),
        ("RETRY_QUEUE_ATTEMPTS", "0"),
        ("BOT_WORKER_CONCURRENCY", "many"),
        ("ADMIN_IDS", "alice"),
    ],
)
def test_a_bad_core_value_stops_start_up_naming_the_variable(variable, value):
    with pytest.raises(SettingsError, match=variable):
        settings_from_env({variable: value}, env_file=None)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SESSION_LIMIT", "0"), ("CPU_RUNNER", "gpu"), ("STORAGE", "s3"), ("CPU_WORKERS", "two")],
)
def test_a_bad_adapter_value_stops_start_up_naming_the_variable(variable, value):
    with pytest.raises(SettingsError, match=variable):
        RealConfig.from_env({variable: value}, env_file=None)


def test_adapter_settings_read_their_variables():
    config = RealConfig.from_env(
        {"TELEGRAM_BOT_TOKEN": "t", "SUPABASE_SESSION_LIMIT": "2", "CPU_RUNNER": "thread"}, env_file=None
    )
    assert (config.telegram_token, config.session_limit, config.cpu) == ("t", 2, "thread")
    with pytest.raises(SettingsError, match="SUPABASE_URL"):
        RealConfig.from_env({"STORAGE": "supabase"}, env_file=None)


def test_hostile_file_names_cannot_escape_the_users_folder():
    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name("..\\..\\boot.ini") == "boot.ini"
    assert safe_file_name("отчёт за май.csv") == "otchet_za_mai.csv"
    assert safe_file_name("日本.csv") == "file.csv"
    assert safe_file_name("café;DROP.csv") == "cafe_DROP.csv"
    assert safe_file_name("") == "file.csv"
    assert safe_file_name("...") == "file.csv"
    assert len(safe_file_name("x" * 500 + ".csv")) <= 80
    assert safe_file_name("x" * 500 + ".csv").endswith(".csv")
    key = blob_key(7, "abc", "../../x.csv")
    assert key == "7/abc_x.csv"


def test_csv_like_documents():
    assert looks_like_csv(TgDocument("f", "u", "data.CSV", "application/octet-stream", 10))
    assert looks_like_csv(TgDocument("f", "u", "export.tsv", None, 10))
    assert not looks_like_csv(TgDocument("f", "u", "photo.jpg", "image/jpeg", 10))
    assert not looks_like_csv(TgDocument("f", "u", "book.xlsx", None, 10))
    assert looks_like_csv(TgDocument("f", "u", None, "text/csv", 10))
    assert looks_like_csv(TgDocument("f", "u", "выгрузка.csv.gz", "application/gzip", 10))
    assert looks_like_csv(TgDocument("f", "u", "reports.zip", "application/zip", 10))
