"""User-facing texts of the bot core, in Russian and English.

Texts about the analysis itself live in :mod:`bot.analysis`; these are about the
conversation: greetings, receipts, refusals, failures. Every failure text says
what happened, that nothing was lost, and what to do.
"""

from __future__ import annotations

SUPPORTED = ("ru", "en")

_TEXTS: dict[str, dict[str, str]] = {
    "start": {
        "en": (
            "Hi! Send me a CSV file as a document and I will profile every column: types, "
            "missing values, statistics, top values. Then you can ask for charts, groupings and exports.\n\n"
            "/help — what I can do\n/history — your files\n/lang — switch language"
        ),
        "ru": (
            "Привет! Пришлите CSV-файл документом, и я опишу каждую колонку: типы, пропуски, "
            "статистику, частые значения. Потом можно построить графики, группировки и выгрузки.\n\n"
            "/help — что я умею\n/history — ваши файлы\n/lang — сменить язык"
        ),
    },
    "help": {
        "en": (
            "<b>How to use</b>\n"
            "1. Send a CSV file (up to 20 MB) as a document: comma, semicolon, tab or | separated; "
            "UTF-8, UTF-16 or Windows-1251.\n"
            "2. I answer with a profile of every column.\n"
            "3. Buttons under the profile give charts, group-by, top values, correlations and exports.\n\n"
            "/history — your uploads\n/delete N — delete upload N\n/forget — delete everything of yours\n"
            "/lang — switch language"
        ),
        "ru": (
            "<b>Как пользоваться</b>\n"
            "1. Пришлите CSV-файл (до 20 МБ) документом: разделитель запятая, точка с запятой, "
            "табуляция или |; кодировка UTF-8, UTF-16 или Windows-1251.\n"
            "2. Я пришлю описание каждой колонки.\n"
            "3. Кнопки под описанием: графики, группировки, топ значений, корреляции и выгрузки.\n\n"
            "/history — ваши загрузки\n/delete N — удалить загрузку N\n/forget — удалить все ваши данные\n"
            "/lang — сменить язык"
        ),
    },
    "received": {
        "en": "Got <b>{name}</b>. Analysing it now; the result will come in a moment.",
        "ru": "Файл <b>{name}</b> получен. Анализирую, результат придёт через минуту.",
    },
    "too_big": {
        "en": (
            "This file is {size_mb} MB; Telegram lets bots download at most 20 MB. "
            "Please send a smaller file (for example, split it or remove unused columns)."
        ),
        "ru": (
            "Файл весит {size_mb} МБ, а Telegram разрешает ботам скачивать не больше 20 МБ. "
            "Пришлите файл поменьше (например, разделите его или уберите лишние колонки)."
        ),
    },
    "not_csv": {
        "en": (
            "<b>{name}</b> does not look like a CSV file. I read .csv, .tsv and .txt tables "
            "(also packed in .zip, .gz or .bz2). "
            "In Excel use File → Save As → CSV, then send the file here."
        ),
        "ru": (
            "<b>{name}</b> не похож на CSV-файл. Я читаю таблицы .csv, .tsv и .txt "
            "(и в архивах .zip, .gz, .bz2). "
            "В Excel выберите Файл → Сохранить как → CSV и пришлите файл сюда."
        ),
    },
    "send_document": {
        "en": "Send me a CSV file as a document (📎 → File), or /help.",
        "ru": "Пришлите CSV-файл документом (📎 → Файл) или наберите /help.",
    },
    "button_unknown": {
        "en": "This button does not work any more. Open your file again with /history.",
        "ru": "Эта кнопка больше не работает. Откройте файл заново через /history.",
    },
    "slow_down": {
        "en": (
            "You are sending messages faster than I can answer, so I skipped some of them. "
            "Wait for my answers, then send again what I skipped (files one at a time)."
        ),
        "ru": (
            "Вы присылаете сообщения быстрее, чем я успеваю отвечать, поэтому часть я пропустил. "
            "Дождитесь ответов и пришлите пропущенное ещё раз (файлы — по одному)."
        ),
    },
    "timeout": {
        "en": "That took too long on our side. Nothing was lost — please try again in a minute.",
        "ru": "Это заняло у нас слишком много времени. Ничего не потеряно — попробуйте ещё раз через минуту.",
    },
    "internal_error": {
        "en": "Something went wrong on our side; it is logged and we will fix it. Please try again.",
        "ru": "У нас что-то сломалось; ошибка записана, мы её исправим. Попробуйте ещё раз.",
    },
    "upload_quota": {
        "en": (
            "You have sent {count} files in the last hour, the most I take from one person. "
            "<b>{name}</b> was not taken: please send it again in a while."
        ),
        "ru": (
            "За последний час вы прислали {count} файлов — это предел для одного человека. "
            "Файл <b>{name}</b> не принят: пришлите его ещё раз чуть позже."
        ),
    },
    "upload_quota_in_flight": {
        "en": (
            "I am still working on {count} of your files. <b>{name}</b> was not taken: "
            "please send it again once their results have come."
        ),
        "ru": (
            "Я ещё обрабатываю {count} ваших файлов. Файл <b>{name}</b> не принят: "
            "пришлите его ещё раз, когда придут их результаты."
        ),
    },
    "upload_unconfirmed": {
        "en": (
            "I could not confirm that <b>{name}</b> was saved (our database is not answering). "
            "If its result has not come in a few minutes, please send the file again."
        ),
        "ru": (
            "Не удалось подтвердить, что файл <b>{name}</b> сохранён (наша база данных не отвечает). "
            "Если результат не придёт через несколько минут, пришлите файл ещё раз."
        ),
    },
    "upload_held": {
        "en": (
            "Got <b>{name}</b>. Our database is not answering right now, so the file waits: "
            "I will analyse it as soon as the service is back and send the result here. "
            "No need to send it again."
        ),
        "ru": (
            "Файл <b>{name}</b> получен. Наша база данных сейчас не отвечает, поэтому файл подождёт: "
            "я проанализирую его, как только сервис заработает, и пришлю результат сюда. "
            "Присылать его ещё раз не нужно."
        ),
    },
    "busy_retry_upload": {
        "en": (
            "I could not register <b>{name}</b> right now (our database is not answering). "
            "Nothing was saved — please send the file again in a minute."
        ),
        "ru": (
            "Не удалось принять <b>{name}</b> прямо сейчас (база данных не отвечает). "
            "Ничего не сохранено — пришлите файл ещё раз через минуту."
        ),
    },
    "job_failed": {
        "en": (
            "I could not finish analysing <b>{name}</b> after several tries ({reason}). "
            "Your file is safe in this chat — please send it again later."
        ),
        "ru": (
            "Не удалось закончить анализ <b>{name}</b> после нескольких попыток ({reason}). "
            "Файл остался в этом чате — пришлите его ещё раз позже."
        ),
    },
    "analysis_too_slow": {
        "en": (
            "Analysing <b>{name}</b> took too long, so I stopped it. Very long cells or an unusual "
            "layout can cause this: try removing unused columns or splitting the file, then send it again."
        ),
        "ru": (
            "Анализ <b>{name}</b> занял слишком много времени, и я его остановил. Так бывает из-за "
            "очень длинных ячеек или необычной структуры: уберите лишние колонки или разделите файл "
            "и пришлите снова."
        ),
    },
    "still_trying": {
        "en": (
            "Analysing <b>{name}</b> is taking longer than usual (one of our services is slow). "
            "Your file is safe; I keep trying and will send the result as soon as it is ready."
        ),
        "ru": (
            "Анализ <b>{name}</b> идёт дольше обычного (один из наших сервисов тормозит). "
            "Файл в сохранности; я продолжаю и пришлю результат, как только он будет готов."
        ),
    },
    "download_failed": {
        "en": "Telegram would not give me <b>{name}</b> ({reason}). Please send the file again.",
        "ru": "Telegram не отдал мне файл <b>{name}</b> ({reason}). Пришлите его ещё раз.",
    },
    "state_unavailable": {
        "en": "I lost track of that step (temporary problem on our side). Please start it again.",
        "ru": "Я потерял этот шаг (временная проблема у нас). Пожалуйста, начните его заново.",
    },
    "lang_set": {
        "en": "Language: English.",
        "ru": "Язык: русский.",
    },
    "not_admin": {
        "en": "This command is for administrators only.",
        "ru": "Эта команда только для администраторов.",
    },
    "unknown_command": {
        "en": "I don't know that command. /help lists what I can do.",
        "ru": "Я не знаю такой команды. /help — список того, что я умею.",
    },
    "btn_histogram": {"en": "📊 Distribution", "ru": "📊 Распределение"},
    "btn_timeseries": {"en": "📈 Over time", "ru": "📈 Динамика"},
    "btn_groupby": {"en": "🧮 Group by", "ru": "🧮 Группировка"},
    "btn_top": {"en": "🔝 Top values", "ru": "🔝 Топ значений"},
    "btn_corr": {"en": "🔗 Correlations", "ru": "🔗 Корреляции"},
    "btn_report": {"en": "📄 Full report", "ru": "📄 Полный отчёт"},
    "btn_report_xlsx": {"en": "📗 Report in Excel", "ru": "📗 Отчёт в Excel"},
    "btn_csv": {"en": "⬇️ CSV", "ru": "⬇️ CSV"},
    "btn_xlsx": {"en": "⬇️ Excel", "ru": "⬇️ Excel"},
    "btn_yes_forget": {"en": "Yes, delete everything", "ru": "Да, удалить всё"},
    "btn_cancel": {"en": "Cancel", "ru": "Отмена"},
    "btn_sum": {"en": "sum", "ru": "сумма"},
    "btn_mean": {"en": "mean", "ru": "среднее"},
    "btn_count": {"en": "count", "ru": "количество"},
    "pick_column": {"en": "Choose a column:", "ru": "Выберите колонку:"},
    "pick_group_by": {"en": "Group by which column?", "ru": "По какой колонке группировать?"},
    "pick_value": {"en": "Which numeric column to aggregate?", "ru": "Какую числовую колонку считать?"},
    "pick_agg": {"en": "How to aggregate?", "ru": "Как считать?"},
    "pick_date": {"en": "Which date column is the time axis?", "ru": "Какая колонка с датой — ось времени?"},
    "no_columns": {
        "en": "This file has no suitable column for that.",
        "ru": "В этом файле нет подходящей колонки для этого.",
    },
    "upload_gone": {
        "en": "That file is no longer available (deleted or still being processed). Send it again.",
        "ru": "Этот файл больше недоступен (удалён или ещё обрабатывается). Пришлите его снова.",
    },
    "history_empty": {"en": "You have no uploads yet.", "ru": "У вас пока нет загрузок."},
    "history_title": {
        "en": "<b>Your uploads</b> (newest first). Tap one to see its profile again; /delete N removes one.",
        "ru": "<b>Ваши загрузки</b> (новые сверху). Нажмите, чтобы снова увидеть профиль; "
        "/delete N — удалить.",
    },
    "delete_usage": {
        "en": "Usage: /delete N, where N is the number from /history.",
        "ru": "Использование: /delete N, где N — номер из /history.",
    },
    "deleted": {"en": "Deleted <b>{name}</b>.", "ru": "Удалено: <b>{name}</b>."},
    "forget_confirm": {
        "en": "Delete ALL your uploads and results? This cannot be undone.",
        "ru": "Удалить ВСЕ ваши загрузки и результаты? Это нельзя отменить.",
    },
    "forgotten": {
        "en": "Done: {count} uploads and their results are deleted.",
        "ru": "Готово: удалено загрузок — {count}, вместе с результатами.",
    },
    "cancelled": {"en": "Cancelled.", "ru": "Отменено."},
}


def pick_language(language_code: str | None) -> str:
    """Russian for clients set to Russian, English for everyone else."""
    if not language_code:
        return "en"
    base = language_code.lower().split("-")[0]
    return "ru" if base == "ru" else "en"


def t(lang: str, key: str, **params: object) -> str:
    texts = _TEXTS[key]
    template = texts.get(lang) or texts["en"]
    return template.format(**params) if params else template
