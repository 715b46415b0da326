"""How the export writes values: one place for JSON, CSV and HTML, driven by the data map.

- Times are shown in the request's time zone with the offset (``2023-06-03T04:00:00+08:00``);
  naive times from a source are taken as UTC. Dates are ``YYYY-MM-DD``.
- Money fields (``type: money``) stay the stored number in JSON (the README names the unit) and
  read ``396.00 CNY`` in CSV and HTML; a negative amount takes the Unicode minus sign
  (``−12.50 CNY``), so no spreadsheet can take it for a formula and a person still reads it.
- Booleans are ``true``/``false`` in JSON, ``是``/``否`` or ``yes``/``no`` in CSV (the request's
  language) and ``是 / yes`` in the bilingual HTML pages.
- CSV text cells that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a
  leading ``'`` (OWASP, CSV injection): a spreadsheet shows it as text instead of running it.
  Only text from the sources is touched; numbers stay numbers, JSON stays as stored.

Conversion runs column by column over a batch: a column whose values need nothing (ids, plain
text, counts) is passed through untouched, which keeps a million-row export cheap. Columns are
taken out of the rows with ``itemgetter`` rather than ``zip(*rows)``: the latter makes one
iterator per row, which the garbage collector tracks; a gen-0 pass in the middle of a 10,000-row
batch promotes thousands of them, and the full collections that follow cost a million-row export
about 2 s of CPU.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from zoneinfo import ZoneInfo

import orjson

MINUS = "\u2212"
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
PASS_THROUGH = frozenset({str, int, float, bool, type(None)})
NUMBERS = frozenset({int, float, type(None)})
TEXT = frozenset({str, type(None)})
BOOL_WORDS = {"zh-CN": ("否", "是"), "en": ("no", "yes")}
BOOL_BOTH = ("否 / no", "是 / yes")
_first = operator.itemgetter(0)
_tzinfo = operator.attrgetter("tzinfo")


@dataclasses.dataclass(frozen=True)
class Money:
    """How a money field is stored: minor (fen) or major (yuan) units, and in which currency."""

    currency: str = "CNY"
    amount_in: str = "minor"
    decimals: int = 2
    currency_field: str | None = None

    def text(self, amount, currency: str | None = None) -> str | None:
        """``396.00 CNY`` (``−12.50 CNY`` when negative); None stays None."""
        if amount is None:
            return None
        places = self.decimals
        if self.amount_in == "minor" and type(amount) is int:
            whole, part = divmod(abs(amount), 10**places)
            number = f"{whole}.{part:0{places}d}" if places else str(whole)
            negative = amount < 0
        else:
            value = decimal.Decimal(str(amount))
            if self.amount_in == "minor":
                value = value.scaleb(-places)
            number = f"{abs(value):.{places}f}"
            negative = value < 0
        return f"{MINUS if negative else ''}{number} {currency or self.currency}"

    def unit(self) -> dict[str, str]:
        """What the JSON number means, in both languages."""
        cur = f"{self.currency_field} 字段所列币种" if self.currency_field else self.currency
        cur_en = f"the currency in {self.currency_field}" if self.currency_field else self.currency
        if self.amount_in == "minor" and self.decimals:
            return {
                "zh-CN": f"最小货币单位（1/{10**self.decimals} {cur}，人民币为分）",
                "en": f"minor units (1/{10**self.decimals} of {cur_en}; fen for CNY)",
            }
        return {"zh-CN": cur, "en": cur_en}


@dataclasses.dataclass(frozen=True)
class Style:
    """Per archive: the time zone times are shown in, and the language of CSV words."""

    timezone: str = "Asia/Shanghai"
    language: str = "zh-CN"

    @property
    def zone(self) -> ZoneInfo:
        """The time zone object."""
        return ZoneInfo(self.timezone)


def _time_converter(zone: ZoneInfo) -> Callable:
    utc = dt.UTC

    def plain(value):
        kind = type(value)
        if kind is dt.datetime or isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=utc)
            return value.astimezone(zone).isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, decimal.Decimal):
            return str(value)
        if isinstance(value, bytes | memoryview):
            return None  # binary columns are not personal data we can show meaningfully
        return value

    return plain


def neutralise(value):
    """A CSV cell that a spreadsheet would run as a formula, made text (OWASP)."""
    if type(value) is str and value and value[0] in FORMULA_TRIGGERS:
        return "'" + value
    return value


@dataclasses.dataclass
class Converted:
    """One batch, column by column: values for JSON and for CSV, and the row count."""

    json: list
    csv: list
    n: int


class TableCodec:
    """Converts batches of one table (with the columns the collector gives) for each format.

    Conversion is column-wise and done once per batch: times become text in the zone (shared
    by JSON and CSV), then money, booleans and formula-like text are rewritten for CSV only.
    """

    def __init__(self, columns: Sequence[str], money: dict[str, Money], style: Style):
        self.columns = tuple(columns)
        self.plain = _time_converter(style.zone)
        self.zone = style.zone
        self.money = [
            (
                i,
                money[c],
                self.columns.index(money[c].currency_field)
                if money[c].currency_field in self.columns
                else None,
            )
            for i, c in enumerate(self.columns)
            if c in money
        ]
        self.words = BOOL_WORDS.get(style.language, BOOL_WORDS["zh-CN"])

    def _json_column(self, col):
        types = set(map(type, col))
        if types <= PASS_THROUGH:
            return col
        if types <= {dt.datetime, type(None)}:  # the common case, in bulk
            return self._times(col, type(None) in types)
        return list(map(self.plain, col))

    def _times(self, col, has_none: bool) -> list:
        """Datetimes as text in the zone.

        astimezone per value, then one orjson call for the whole column: its RFC 3339 text
        equals ``isoformat()``, which per value costs several times more.
        """
        zone, utc = self.zone, dt.UTC
        values = list(filter(None, col)) if has_none else col  # a datetime is never false
        if None in map(_tzinfo, values):  # naive times from the source are UTC
            zoned = [(v if v.tzinfo else v.replace(tzinfo=utc)).astimezone(zone) for v in values]
        else:  # the common case, without a Python-level loop
            zoned = list(map(operator.methodcaller("astimezone", zone), values))
        if not zoned:
            return list(col)
        texts = orjson.dumps(zoned).decode()[2:-2].split('","')
        if not has_none:
            return texts
        it = iter(texts)
        return [None if v is None else next(it) for v in col]

    def convert(self, rows: list) -> Converted:
        """The batch for JSON (as stored, times in the zone) and for CSV."""
        if not rows:
            return Converted([], [], 0)
        width = len(self.columns)
        if len(rows[0]) != width or len(rows[-1]) != width:
            raise ValueError(f"rows of {len(rows[0])} values for {width} columns")
        cols = [self._json_column(list(map(operator.itemgetter(i), rows))) for i in range(width)]
        return Converted(cols, self._text(cols, self.words, csv=True), len(rows))

    def html(self, converted: Converted) -> list:
        """The batch's columns for the bilingual HTML pages (from the JSON values)."""
        return self._text(converted.json, BOOL_BOTH, csv=False)

    def json_rows(self, rows: list) -> Iterable[tuple]:
        """Rows for JSON (times in the zone, the rest as stored)."""
        converted = self.convert(rows)
        return zip(*converted.json, strict=True) if converted.n else ()

    def text_rows(self, rows: list, *, csv: bool) -> Iterator[tuple]:
        """Rows for CSV (``csv``) or HTML."""
        converted = self.convert(rows)
        if not converted.n:
            return iter(())
        cols = converted.csv if csv else self.html(converted)
        return zip(*cols, strict=True)

    def _text(self, cols: list, words, *, csv: bool) -> list:
        out = list(cols)
        money_at = set()
        n = len(cols[0])
        for i, spec, currency_at in self.money:
            currencies = cols[currency_at] if currency_at is not None else [None] * n
            out[i] = list(map(spec.text, cols[i], currencies))
            money_at.add(i)
        for i, col in enumerate(cols):
            if i in money_at:
                continue
            types = set(map(type, col))
            if types <= NUMBERS:
                continue
            if types <= TEXT:
                if csv and not FORMULA_TRIGGERS.isdisjoint(map(_first, filter(None, col))):
                    out[i] = list(map(neutralise, col))
                continue
            out[i] = [words[v] if type(v) is bool else (neutralise(v) if csv else v) for v in col]
        return out
