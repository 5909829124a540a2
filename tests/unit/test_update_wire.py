"""An update kept for a restart (bot.updates) is written as Bot API JSON and read back by
the same parser as a fetched one: the round trip must give the very same update."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import TgCallbackQuery, TgDocument, TgMessage, TgUser, Update
from bot.telegram_wire import parse_update, update_wire

ids = st.integers(min_value=-(2**52), max_value=2**52)
texts = st.none() | st.text(max_size=40)
users = st.builds(
    TgUser,
    id=ids,
    language_code=st.none() | st.sampled_from(["en", "ru", "pt-br"]),
    first_name=st.text(max_size=20),
    username=st.none() | st.text(min_size=1, max_size=20),
)
documents = st.builds(
    TgDocument,
    file_id=st.text(min_size=1, max_size=30),
    file_unique_id=st.text(min_size=1, max_size=20),
    file_name=texts,
    mime_type=st.none() | st.sampled_from(["text/csv", "application/zip"]),
    file_size=st.none() | st.integers(min_value=0, max_value=2**40),
)
messages = st.builds(
    TgMessage,
    message_id=ids,
    chat_id=ids,
    date=st.integers(min_value=0, max_value=2**40),
    from_user=st.none() | users,
    text=texts,
    document=st.none() | documents,
    caption=texts,
)
under = st.one_of(st.tuples(st.none(), st.none()), st.tuples(ids, st.none() | ids))  # (chat, message)
queries = st.builds(
    lambda query_id, user, data, where: TgCallbackQuery(query_id, user, data, where[0], where[1]),
    st.text(min_size=1, max_size=20),
    users,
    texts,
    under,
)
updates = st.builds(Update, update_id=ids, message=st.none() | messages, callback_query=st.none() | queries)


@given(updates)
def test_an_update_survives_its_wire_form(update: Update) -> None:
    assert parse_update(orjson.loads(orjson.dumps(update_wire(update)))) == update
