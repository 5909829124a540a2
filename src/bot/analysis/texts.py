"""Every sentence the analysis shows a person, in English and Russian.

Placeholders are filled with already formatted and escaped values by render.py.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        # refusals: what is wrong, then how to fix it
        "rej.too_big": "The file is {size}, more than the {limit} I can read. "
        "Split it into smaller files or remove columns you do not need, then send it again.",
        "rej.empty": "The file is empty. Export the table again and check that it has rows.",
        "rej.compressed": "This is a {format} archive, not a CSV file. "
        "Unpack it and send the .csv file that is inside.",
        "rej.excel": "This is an Excel workbook ({format}) renamed to .csv. "
        "Open it in Excel and use File → Save As → CSV (comma or semicolon delimited).",
        "rej.binary": "This is not a text file (it looks like {kind}). "
        "Send a CSV file: a table saved as text, e.g. from Excel via Save As → CSV.",
        "rej.encoding": "I could not tell the text encoding of this file. "
        "Save it again as CSV UTF-8 (in Excel: Save As → CSV UTF-8) and send it again.",
        "rej.header_only": "The file has a header line but no data rows. "
        "Check that you exported the whole table, not only the column names.",
        "rej.too_many_columns": "The file has {columns} columns; I read at most {limit}. "
        "Remove the columns you do not need and send it again.",
        "rej.too_many_rows": "The file has {rows} rows; I read at most {limit}. "
        "Split it into several files or filter the rows you need.",
        "rej.cell_too_long": "A value in column {column} is longer than {limit} characters. "
        'This usually means an unclosed quote ("); check the quotes in that column.',
        "rej.unreadable": "I could not read the rows: {bad_rows} of {rows} have a different number of fields "
        "than the header. Check the delimiter and that text with delimiters inside is quoted.",
        "rej.unreadable.detail": "I could not read this file as a table. Check that it is a CSV file "
        "with one row per line and a single delimiter (comma, semicolon or tab).",
        "rej.bad_column": "There is no such column in this file (or it has the wrong type for this). "
        "Choose a column from the list again.",
        "rej.unpacked_too_big": "The archive unpacks to more than {limit}, more than I can read. "
        "Split the table into smaller files, or send a part of it.",
        "rej.unpack_ratio": "The archive unpacks to more than {limit} times its own size, which a table "
        "never does; I stopped unpacking it. Unpack it yourself and send the CSV file.",
        "rej.archive_broken": "This {format} archive (a compressed file) is damaged, cut short or "
        "password-protected, so I could not "
        "unpack it. Pack the CSV file again without a password, or send it unpacked.",
        "rej.archive_empty": "There is no file in this archive. Put the CSV file in it and send it again.",
        "n.archive": "Unpacked from a {format} archive{member}",
        "n.archive.member": ": {member}",
        "n.archive_others": "Other tables in the archive, not profiled here: {names} — send them one by one",
        "n.archive_parts": "The archive holds {count} tables: each has its own profile, "
        "in the archive's order",
        "n.archive_unread": "Not read from the archive (not a table I can read): {names}",
        "rej.line_too_long": "A line of the file is longer than {limit} characters, so it is not a table "
        "I can read (a table row is far shorter). Check that the file has one row per line.",
        "rej.binary.unknown": "This does not look like a text file: it holds many control characters. "
        "Send a CSV file: a table saved as text, e.g. from Excel via Save As → CSV.",
        "n.nul_bytes": "Zero bytes (NUL) in the text, a sign of a damaged export, were dropped: {count}",
        "rej.unknown": "I could not analyse this file. Check that it is a CSV table and send it again.",
        # profile
        "p.title": "📊 <b>{name}</b>",
        "p.shape": "{rows} rows × {columns} columns",
        "p.read_as": "Read as: {encoding}, delimiter {delimiter}, decimal mark {decimal}, {header}",
        "p.with_header": "with a header row",
        "p.no_header": "no header row (columns numbered)",
        "p.totals_removed": "The totals row at the end (Итого/Total) was left out.",
        "p.preamble": "Title lines above the table skipped: {count}.",
        "p.alerts": "⚠️ <b>Worth a look</b>",
        "p.columns": "<b>Columns</b>",
        "p.more_columns": "…and {count} more columns: {names}",
        "p.missing": "missing {count} ({percent})",
        "p.distinct": "distinct {count}",
        "p.range": "min {min} · max {max}",
        "p.centre": "mean {mean} · median {median}",
        "p.quartiles": "quartiles {q1} – {q3} · sum {total}",
        "p.dates": "from {min} to {max}",
        "p.top": "top: {values}",
        "p.length": "average length {length} characters",
        "p.notes": "📖 <b>How the file was read</b>",
        "w.types": "<b>Column types</b>: {types}",
        "r.number": "#",
        "r.column": "Column",
        "r.type": "Type",
        "r.count": "Values",
        "r.missing": "Missing",
        "r.distinct": "Distinct",
        "w.missing": "<b>Missing values</b> in {count} columns, most in: {columns}",
        "w.constant": "<b>The same value in every row</b>: {count} columns: {columns}",
        "w.correlated": "<b>Move together</b>: {a} and {b} (r = {r})",
        "w.file": "📎 The full profile of every column is in the attached file.",
        "n.encoding": "Encoding: {encoding}",
        "n.delimiter": "Delimiter: {delimiter}",
        "n.space_ambiguous": "Some rows could also be read as one number with spaces between digit groups "
        "(5 162 600); they were read as separate columns, which keeps every column's type consistent",
        "n.decimal": "Decimal mark: {decimal}",
        "n.header": "Column names: line {line}",
        "n.no_header": "No header line: columns are numbered",
        "n.skipped_lines": "Lines above the table skipped (title, comments, blank): {lines}",
        "n.date_format": "Dates read as {format}: {columns}",
        "n.repeated_headers": "Copies of the header line inside the data, left out: {count}",
        "n.totals_row": "The totals row at the end (Итого/Total) was left out",
        "n.skipped_rows": "Rows left out for a different number of fields: {count}",
        "n.padded_rows": "Rows with fewer fields than the header, padded with missing values: {count} "
        "(lines: {lines})",
        "n.overflow_rows": "Rows with more fields than the header: {count} (lines: {lines}); "
        "the extra fields are in the column extra_fields",
        "p.year_range": "years {min} – {max}",
        "p.id_range": "from {min} to {max}",
        "t.year": "year",
        "t.id": "identifier",
        "t.quarter": "quarter",
        "a.excel_errors": "{column}: {count} Excel error values in the source (e.g. {example}); "
        "counted as missing — check the formulas",
        "t.integer": "integer",
        "t.float": "number",
        "t.date": "date",
        "t.datetime": "date and time",
        "t.boolean": "yes/no",
        "t.category": "category",
        "t.text": "text",
        "t.empty": "empty",
        "d.tab": "tab",
        "d.space": "space",
        # alerts
        "a.empty": "{column}: empty, no values at all",
        "a.constant": "{column}: the same value in every row ({value})",
        "a.mostly_missing": "{column}: {percent}% of values missing",
        "a.mixed_types": "{column}: {count} values are not a {type} (e.g. {example}); counted as missing",
        "a.mixed_types.noexample": "{column}: {count} values are not a {type}; counted as missing",
        "a.mixed_types.share": "{column}: mixed — {percent}% of values are numbers, the rest text",
        "a.mixed_types.kinds": "{column}: mixed — {kinds}",
        "k.numbers": "{percent}% numbers",
        "k.dates": "{percent}% dates",
        "k.text": "{percent}% text",
        "a.high_cardinality": "{column}: nearly every value is different ({distinct}) — an identifier?",
        "a.skewed": "{column}: strongly skewed (skewness {skew}); the median says more than the mean",
        "a.duplicates": "Rows that repeat an earlier row exactly: {count}",
        "a.correlated": "{column} and <b>{other}</b> move together (r = {r}): "
        "one may be derived from the other",
        "a.zeros": "{column}: {percent}% of values are zero",
        "a.outliers": "{column}: {count} values lie far outside the usual range "
        "(beyond 3 interquartile ranges)",
        "a.imbalanced": "{column}: one value dominates — {value} in {percent}% of rows",
        "a.skipped_rows": "Rows skipped for a different number of fields: {count}",
        # tables
        "tb.group_by": "<b>{agg} of {value} by {by}</b>",
        "tb.group_by.count": "<b>Rows by {by}</b>",
        "tb.top_n.values": "<b>Most frequent values of {column}</b>",
        "tb.top_n.rows": "<b>Top {n} rows by {column}</b>",
        "tb.correlations": "<b>Correlations between numeric columns</b>",
        "tb.more_rows": "…{count} more rows in the file you can download.",
        "tb.empty": "Nothing to show: no values to count.",
        "agg.sum": "Sum",
        "agg.mean": "Mean",
        "agg.median": "Median",
        "agg.min": "Minimum",
        "agg.max": "Maximum",
        "agg.count": "Count",
        "col.value": "value",
        "col.count": "count",
        "col.share": "share",
        "col.column_a": "column",
        "col.column_b": "with",
        "col.r": "r",
        "col.pairs": "rows",
        "col.other": "(other)",
        "col.missing": "(missing)",
        # charts
        "c.count": "Rows",
        "c.histogram": "Distribution of {column}",
        "c.bars": "Most frequent values of {column}",
        "c.per_period": "Rows per {period}: {column}",
        "c.timeseries": "{value} by {period} (sum)",
        "c.correlations": "Correlations",
        "c.period.D": "day",
        "c.period.W": "week",
        "c.period.M": "month",
        "c.period.Q": "quarter",
        "c.period.Y": "year",
    },
    "ru": {
        "rej.too_big": "Файл весит {size}, а я читаю не больше {limit}. "
        "Разделите его на части или удалите лишние столбцы и пришлите снова.",
        "rej.empty": "Файл пустой. Выгрузите таблицу ещё раз и проверьте, что в ней есть строки.",
        "rej.compressed": "Это архив {format}, а не CSV-файл. Распакуйте его и пришлите .csv-файл из архива.",
        "rej.excel": "Это книга Excel ({format}), переименованная в .csv. "
        "Откройте её в Excel и выберите Файл → Сохранить как → "
        "CSV (разделители — запятые или точки с запятой).",
        "rej.binary": "Это не текстовый файл (похоже на {kind}). "
        "Пришлите CSV — таблицу, сохранённую как текст, например из Excel через «Сохранить как → CSV».",
        "rej.encoding": "Не удалось определить кодировку файла. "
        "Сохраните его как «CSV UTF-8» (в Excel: Сохранить как → CSV UTF-8) и пришлите снова.",
        "rej.header_only": "В файле есть строка заголовков, но нет данных. "
        "Проверьте, что выгрузили всю таблицу, а не только названия столбцов.",
        "rej.too_many_columns": "Столбцов в файле: {columns}, а я читаю не больше {limit}. "
        "Удалите лишние столбцы и пришлите снова.",
        "rej.too_many_rows": "Строк в файле: {rows}, а я читаю не больше {limit}. "
        "Разделите его на несколько файлов или отфильтруйте нужные строки.",
        "rej.cell_too_long": "Значение в столбце {column} длиннее {limit} символов. "
        'Обычно это незакрытая кавычка ("): проверьте кавычки в этом столбце.',
        "rej.unreadable": "Не удалось прочитать строки: в {bad_rows} из {rows} "
        "другое число полей, чем в заголовке. "
        "Проверьте разделитель и что текст с разделителями внутри взят в кавычки.",
        "rej.unreadable.detail": "Не удалось прочитать файл как таблицу. Проверьте, что это CSV: "
        "одна строка таблицы на строку файла и один разделитель (запятая, точка с запятой или табуляция).",
        "rej.bad_column": "Такого столбца в файле нет (или он не подходит для этого). "
        "Выберите столбец из списка ещё раз.",
        "rej.unpacked_too_big": "Архив распаковывается больше чем в {limit} — столько я не читаю. "
        "Разделите таблицу на файлы поменьше или пришлите её часть.",
        "rej.unpack_ratio": "Архив распаковывается в размер, больший исходного в {limit} раз и более, — "
        "так таблицы не сжимаются; распаковку я остановил. Распакуйте архив сами и пришлите CSV-файл.",
        "rej.archive_broken": "Архив {format} (сжатый файл) повреждён, обрезан или защищён паролем — "
        "распаковать его не удалось. "
        "Запакуйте CSV-файл заново без пароля или пришлите его без архива.",
        "rej.archive_empty": "В архиве нет файлов. Положите в него CSV-файл и пришлите снова.",
        "n.archive": "Распакован из архива {format}{member}",
        "n.archive.member": ": {member}",
        "n.archive_others": "Другие таблицы в архиве, здесь не разобраны: {names} — пришлите их по одной",
        "n.archive_parts": "В архиве таблиц: {count} — у каждой свой профиль, в порядке архива",
        "n.archive_unread": "Не прочитаны из архива (это не таблицы, которые я читаю): {names}",
        "rej.line_too_long": "Строка файла длиннее {limit} символов — такую таблицу я не прочитаю "
        "(строка таблицы намного короче). Проверьте, что в файле одна строка таблицы на строку.",
        "rej.binary.unknown": "Это не похоже на текстовый файл: в нём много управляющих символов. "
        "Пришлите CSV — таблицу, сохранённую как текст, например из Excel через «Сохранить как → CSV».",
        "n.nul_bytes": "Нулевые байты (NUL) в тексте — признак повреждённой выгрузки — удалены: {count}",
        "rej.unknown": "Не удалось проанализировать файл. Проверьте, что это CSV-таблица, и пришлите снова.",
        "p.title": "📊 <b>{name}</b>",
        "p.shape": "Строк: {rows}, столбцов: {columns}",
        "p.read_as": "Прочитан как: {encoding}, разделитель {delimiter}, десятичный знак {decimal}, {header}",
        "p.with_header": "со строкой заголовков",
        "p.no_header": "без заголовков (столбцы пронумерованы)",
        "p.totals_removed": "Итоговая строка в конце (Итого/Total) не учитывалась.",
        "p.preamble": "Пропущено строк заголовка отчёта над таблицей: {count}.",
        "p.alerts": "⚠️ <b>Обратите внимание</b>",
        "p.columns": "<b>Столбцы</b>",
        "p.more_columns": "…и ещё столбцы ({count}): {names}",
        "p.missing": "пропусков {count} ({percent})",
        "p.distinct": "уникальных {count}",
        "p.range": "мин {min} · макс {max}",
        "p.centre": "среднее {mean} · медиана {median}",
        "p.quartiles": "квартили {q1} – {q3} · сумма {total}",
        "p.dates": "с {min} по {max}",
        "p.top": "чаще всего: {values}",
        "p.length": "средняя длина {length} символов",
        "p.notes": "📖 <b>Как прочитан файл</b>",
        "w.types": "<b>Типы столбцов</b>: {types}",
        "r.number": "№",
        "r.column": "Столбец",
        "r.type": "Тип",
        "r.count": "Значений",
        "r.missing": "Пропуски",
        "r.distinct": "Уникальных",
        "w.missing": "<b>Пропуски</b> в столбцах: {count}, больше всего: {columns}",
        "w.constant": "<b>Одно значение во всех строках</b> — столбцов: {count}: {columns}",
        "w.correlated": "<b>Меняются согласованно</b>: {a} и {b} (r = {r})",
        "w.file": "📎 Полный профиль каждого столбца — в приложенном файле.",
        "n.encoding": "Кодировка: {encoding}",
        "n.delimiter": "Разделитель: {delimiter}",
        "n.space_ambiguous": "Некоторые строки можно прочитать и как одно число с пробелами между разрядами "
        "(5 162 600); они прочитаны как отдельные столбцы — так у каждого столбца один тип",
        "n.decimal": "Десятичный знак: {decimal}",
        "n.header": "Названия столбцов: строка {line}",
        "n.no_header": "Строки заголовков нет: столбцы пронумерованы",
        "n.skipped_lines": "Пропущены строки над таблицей (заголовок отчёта, комментарии, пустые): {lines}",
        "n.date_format": "Даты прочитаны как {format}: {columns}",
        "n.repeated_headers": "Повторы строки заголовков внутри данных не учитывались: {count}",
        "n.totals_row": "Итоговая строка в конце (Итого/Total) не учитывалась",
        "n.skipped_rows": "Не учитывались строки с другим числом полей: {count}",
        "n.padded_rows": "Строк, где полей меньше, чем в заголовке (недостающие считаются пропусками): "
        "{count} (строки: {lines})",
        "n.overflow_rows": "Строк, где полей больше, чем в заголовке: {count} (строки: {lines}); "
        "лишние поля — в столбце extra_fields",
        "p.year_range": "годы {min} – {max}",
        "p.id_range": "от {min} до {max}",
        "t.year": "год",
        "t.id": "идентификатор",
        "t.quarter": "квартал",
        "a.excel_errors": "{column}: ошибок Excel в исходных данных: {count} (например, {example}); "
        "считаются пропусками — проверьте формулы",
        "t.integer": "целое",
        "t.float": "число",
        "t.date": "дата",
        "t.datetime": "дата и время",
        "t.boolean": "да/нет",
        "t.category": "категория",
        "t.text": "текст",
        "t.empty": "пусто",
        "d.tab": "табуляция",
        "d.space": "пробел",
        "a.empty": "{column}: пустой, значений нет",
        "a.constant": "{column}: во всех строках одно значение ({value})",
        "a.mostly_missing": "{column}: пропущено {percent}% значений",
        "a.mixed_types": "{column}: значений не типа «{type}»: {count} (например, {example}); "
        "считаются пропусками",
        "a.mixed_types.noexample": "{column}: значений не типа «{type}»: {count}; считаются пропусками",
        "a.mixed_types.share": "{column}: смешанный — {percent}% значений числа, остальное текст",
        "a.mixed_types.kinds": "{column}: смешанный — {kinds}",
        "k.numbers": "{percent}% числа",
        "k.dates": "{percent}% даты",
        "k.text": "{percent}% текст",
        "a.high_cardinality": "{column}: почти все значения разные ({distinct}) — это идентификатор?",
        "a.skewed": "{column}: сильная асимметрия ({skew}); медиана показательнее среднего",
        "a.duplicates": "Строк, полностью повторяющих более ранние: {count}",
        "a.correlated": "{column} и <b>{other}</b> меняются согласованно (r = {r}): "
        "возможно, один считается из другого",
        "a.zeros": "{column}: {percent}% значений — нули",
        "a.outliers": "{column}: значений далеко за обычным диапазоном "
        "(дальше 3 межквартильных размахов): {count}",
        "a.imbalanced": "{column}: преобладает одно значение — {value} в {percent}% строк",
        "a.skipped_rows": "Пропущено строк с другим числом полей: {count}",
        "tb.group_by": "<b>{agg}: {value} по {by}</b>",
        "tb.group_by.count": "<b>Число строк по {by}</b>",
        "tb.top_n.values": "<b>Частые значения {column}</b>",
        "tb.top_n.rows": "<b>Топ-{n} строк по {column}</b>",
        "tb.correlations": "<b>Корреляции между числовыми столбцами</b>",
        "tb.more_rows": "…остальные строки ({count}) — в файле для скачивания.",
        "tb.empty": "Показать нечего: нет значений.",
        "agg.sum": "Сумма",
        "agg.mean": "Среднее",
        "agg.median": "Медиана",
        "agg.min": "Минимум",
        "agg.max": "Максимум",
        "agg.count": "Количество",
        "col.value": "значение",
        "col.count": "кол-во",
        "col.share": "доля",
        "col.column_a": "столбец",
        "col.column_b": "с",
        "col.r": "r",
        "col.pairs": "строк",
        "col.other": "(прочие)",
        "col.missing": "(пусто)",
        "c.count": "Строк",
        "c.histogram": "Распределение: {column}",
        "c.bars": "Частые значения: {column}",
        "c.per_period": "Строк за период ({period}): {column}",
        "c.timeseries": "{value} по периодам: {period} (сумма)",
        "c.correlations": "Корреляции",
        "c.period.D": "день",
        "c.period.W": "неделя",
        "c.period.M": "месяц",
        "c.period.Q": "квартал",
        "c.period.Y": "год",
    },
}


def text(lang: str, key: str, **values: object) -> str:
    table = TEXTS.get(lang, TEXTS["en"])
    template = table.get(key) or TEXTS["en"][key]
    return template.format(**values)
