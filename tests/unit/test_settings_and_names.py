from bot.domain import TgDocument
from bot.settings import DEFAULT_DEADLINES, settings_from_env
from bot.uploads import blob_key, looks_like_csv, safe_file_name


def test_defaults_match_the_design_table():
    assert DEFAULT_DEADLINES["db.connect"] == 5
    assert DEFAULT_DEADLINES["db.statement"] == 10
    assert DEFAULT_DEADLINES["handler"] == 8
    assert DEFAULT_DEADLINES["storage.upload"] == 15
    assert DEFAULT_DEADLINES["storage.download"] == 10


def test_environment_overrides_deadlines_and_fields():
    settings = settings_from_env(
        {"DEADLINE_STORAGE_UPLOAD": "3.5", "BOT_WORKER_CONCURRENCY": "5", "ADMIN_IDS": "1, 2"}
    )
    assert settings.deadline("storage.upload") == 3.5
    assert settings.deadline("db.statement") == 10
    assert settings.worker_concurrency == 5
    assert settings.admin_ids == frozenset({1, 2})


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
