"""What the admin commands say, in Russian and English (the admin's language)."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "stats": {
        "en": (
            "<b>Stats</b>\n"
            "users with uploads: today {users_day}, 7 days {users_week}; all users: {users_total}\n"
            "uploads: last hour {uploads_hour}, last day {uploads_day}\n"
            "failed jobs, last hour: {failed_hour}\n"
            "failed jobs, last day: {failed_day}\n"
            "since start: uploads accepted: {accepted}, analysed: {analysed}, rejected: {rejected}, "
            "failed: {failed} (rejected: {refused})\n"
            "answer time p95: reply {reply_p95}, job {job_p95}\n"
            "queue: {open_jobs} open jobs, {stream} in the stream; oldest open job {oldest}\n"
            "DB sessions: {sessions}\n"
            "updates handled: {updates}, in flight: {in_flight}; "
            "retries: {retries}, Telegram 429s: {throttled}"
        ),
        "ru": (
            "<b>Статистика</b>\n"
            "пользователей с загрузками: сегодня {users_day}, за 7 дней {users_week}; всего: {users_total}\n"
            "загрузок: за час {uploads_hour}, за сутки {uploads_day}\n"
            "неудачных заданий за час: {failed_hour}\n"
            "неудачных заданий за сутки: {failed_day}\n"
            "с запуска: загрузок принято: {accepted}, проанализировано: {analysed}, отклонено: {rejected}, "
            "не удалось: {failed} (отклонены: {refused})\n"
            "время ответа p95: ответ {reply_p95}, задание {job_p95}\n"
            "очередь: открытых заданий {open_jobs}, в потоке {stream}; самое старое {oldest}\n"
            "сессии БД: {sessions}\n"
            "обработано обновлений: {updates}, в обработке: {in_flight}; повторов: {retries}, "
            "ответов 429 от Telegram: {throttled}"
        ),
    },
    "none": {"en": "none", "ru": "нет"},
    "unknown": {"en": "not measured here", "ru": "здесь не измеряется"},
    "ago": {"en": "{seconds} s ago", "ru": "{seconds} с назад"},
    "sessions": {
        "en": "{in_use} of {limit} in use, {waiting} waiting",
        "ru": "занято {in_use} из {limit}, ждут {waiting}",
    },
    "job_usage": {"en": "Usage: /job &lt;job id&gt;", "ru": "Использование: /job &lt;id задания&gt;"},
    "job_unknown": {"en": "No job {job_id}.", "ru": "Задания {job_id} нет."},
    "job": {
        "en": (
            "<b>Job</b> <code>{job_id}</code>\n"
            "file: {name} ({size}), user {user_id}\n"
            "status: {status}, attempts: {attempts}\n"
            "steps: {steps}; answer parts sent: {parts}\n"
            "error: {error}\n"
            "recorded {created}, last change {updated}"
        ),
        "ru": (
            "<b>Задание</b> <code>{job_id}</code>\n"
            "файл: {name} ({size}), пользователь {user_id}\n"
            "статус: {status}, попыток: {attempts}\n"
            "шаги: {steps}; отправлено частей ответа: {parts}\n"
            "ошибка: {error}\n"
            "записано {created}, изменено {updated}"
        ),
    },
    "retry_usage": {"en": "Usage: /retry &lt;job id&gt;", "ru": "Использование: /retry &lt;id задания&gt;"},
    "retry_done": {
        "en": "Job <code>{job_id}</code> is queued again "
        "(fresh attempts; parts already sent are not resent).",
        "ru": "Задание <code>{job_id}</code> снова в очереди "
        "(попытки заново; отправленные части не повторятся).",
    },
    "retry_queue_down": {
        "en": "Job <code>{job_id}</code> is queued again in the database; the queue is down, "
        "so the reconciler will pick it up within a few minutes.",
        "ru": "Задание <code>{job_id}</code> снова в очереди в базе; очередь недоступна, "
        "его подхватит сверка через несколько минут.",
    },
    "retry_running": {
        "en": "Job <code>{job_id}</code> is running on a live worker; left alone.",
        "ru": "Задание <code>{job_id}</code> выполняется живым обработчиком; не трогаю.",
    },
    "retry_answered": {
        "en": "Job <code>{job_id}</code> already has its answer (done, or the file was refused); left alone.",
        "ru": "По заданию <code>{job_id}</code> ответ уже отправлен (готово или файл отклонён); не трогаю.",
    },
    "ban_usage": {"en": "Usage: /ban &lt;user id&gt;", "ru": "Использование: /ban &lt;id пользователя&gt;"},
    "unban_usage": {
        "en": "Usage: /unban &lt;user id&gt;",
        "ru": "Использование: /unban &lt;id пользователя&gt;",
    },
    "ban_admin": {"en": "An administrator cannot be banned.", "ru": "Администратора нельзя заблокировать."},
    "banned": {
        "en": "User {user_id} is banned: their messages are ignored.",
        "ru": "Пользователь {user_id} заблокирован: его сообщения игнорируются.",
    },
    "already_banned": {
        "en": "User {user_id} was already banned.",
        "ru": "Пользователь {user_id} уже заблокирован.",
    },
    "unbanned": {"en": "User {user_id} is unbanned.", "ru": "Пользователь {user_id} разблокирован."},
    "not_banned": {
        "en": "User {user_id} was not banned.",
        "ru": "Пользователь {user_id} не был заблокирован.",
    },
    "broadcast_usage": {
        "en": "Usage: /broadcast &lt;text&gt;, /broadcast status, /broadcast cancel",
        "ru": "Использование: /broadcast &lt;текст&gt;, /broadcast status, /broadcast cancel",
    },
    "broadcast_busy": {
        "en": "Broadcast #{id} is still running; wait for it or /broadcast cancel it.",
        "ru": "Рассылка №{id} ещё идёт; дождитесь её или остановите: /broadcast cancel.",
    },
    "broadcast_starting": {"en": "Broadcast: starting…", "ru": "Рассылка: начинаю…"},
    "broadcast_too_long": {
        "en": "A broadcast is one message: at most {limit} characters.",
        "ru": "Рассылка — одно сообщение: не больше {limit} символов.",
    },
    "broadcast_none": {"en": "There has been no broadcast yet.", "ru": "Рассылок ещё не было."},
    "broadcast_not_running": {"en": "No broadcast is running.", "ru": "Сейчас рассылка не идёт."},
    "broadcast_progress": {
        "en": "Broadcast #{id}: {status}. Sent {sent} of {total}; "
        "blocked the bot: {blocked}; failed: {failed}.",
        "ru": "Рассылка №{id}: {status}. Отправлено {sent} из {total}; заблокировали бота: {blocked}; "
        "не доставлено: {failed}.",
    },
    "status_running": {"en": "running", "ru": "идёт"},
    "status_done": {"en": "done", "ru": "завершена"},
    "status_cancelled": {"en": "cancelled", "ru": "отменена"},
}


def t_admin(lang: str, key: str, **params: object) -> str:
    """The admin text ``key`` in ``lang`` (English when there is no such translation)."""
    texts = _TEXTS[key]
    template = texts.get(lang) or texts["en"]
    return template.format(**params) if params else template


__all__ = ["t_admin"]
