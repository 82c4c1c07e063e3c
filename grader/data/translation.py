"""Synthetic English → Russian sentence pairs from aligned templates.

Each template is written once in both languages; slots carry their English word and the Russian
forms the Russian template needs (gender agreement of adjectives, pronouns and past-tense verbs;
the accusative and prepositional cases of nouns and city names), so every pair is a correct
translation. Sentences are short and everyday, the kind a small translation model handles.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from grader.data import draw_distinct

EVAL_SEED = 2025
EVAL_SIZE = 150


@dataclass(frozen=True)
class Noun:
    en: str
    nom: str  # Russian nominative
    acc: str  # Russian accusative
    gender: str  # m, f, n, pl (Russian: "часы" is plural, "watch" is not)
    en_plural: bool = False


NOUNS = [
    Noun("phone", "телефон", "телефон", "m"),
    Noun("laptop", "ноутбук", "ноутбук", "m"),
    Noun("kettle", "чайник", "чайник", "m"),
    Noun("lamp", "лампа", "лампу", "f"),
    Noun("book", "книга", "книгу", "f"),
    Noun("jacket", "куртка", "куртку", "f"),
    Noun("chair", "стул", "стул", "m"),
    Noun("mirror", "зеркало", "зеркало", "n"),
    Noun("bicycle", "велосипед", "велосипед", "m"),
    Noun("watch", "часы", "часы", "pl"),
    Noun("headphones", "наушники", "наушники", "pl", en_plural=True),
    Noun("table", "стол", "стол", "m"),
]
_G = {"m": 0, "f": 1, "n": 2, "pl": 3}
NEW_ACC = ("новый", "новую", "новое", "новые")  # inanimate accusative
MY = ("мой", "моя", "моё", "мои")
OLD = ("старый", "старая", "старое", "старые")
BROKE = ("сломался", "сломалась", "сломалось", "сломались")
ARRIVED = ("пришёл", "пришла", "пришло", "пришли")
IS_EN = {False: "is", True: "are"}

# (English, Russian nominative, Russian prepositional)
CITIES = [
    ("Moscow", "Москва", "Москве"),
    ("Kazan", "Казань", "Казани"),
    ("Samara", "Самара", "Самаре"),
    ("Novosibirsk", "Новосибирск", "Новосибирске"),
    ("Saint Petersburg", "Санкт-Петербург", "Санкт-Петербурге"),
    ("Tomsk", "Томск", "Томске"),
]
# (English, Russian, grammatical gender for past tense)
PEOPLE = [
    ("Anna", "Анна", "f"),
    ("Ivan", "Иван", "m"),
    ("Maria", "Мария", "f"),
    ("Pavel", "Павел", "m"),
    ("Olga", "Ольга", "f"),
    ("Dmitry", "Дмитрий", "m"),
]
# (English, Russian "on <day>": в + accusative, "во вторник")
DAYS = [
    ("Monday", "в понедельник"),
    ("Tuesday", "во вторник"),
    ("Wednesday", "в среду"),
    ("Thursday", "в четверг"),
    ("Friday", "в пятницу"),
    ("Saturday", "в субботу"),
]
WEATHER = [
    ("sunny", "солнечно"),
    ("cold", "холодно"),
    ("warm", "тепло"),
    ("windy", "ветрено"),
    ("cloudy", "облачно"),
]
BOUGHT = {"m": "купил", "f": "купила"}
WENT = {"m": "поехал", "f": "поехала"}


def ru_days(k: int) -> str:
    if k % 10 == 1 and k % 100 != 11:
        return "день"
    if 2 <= k % 10 <= 4 and not 12 <= k % 100 <= 14:
        return "дня"
    return "дней"


def _plural(noun: Noun) -> bool:
    return noun.en_plural


Pair = tuple[str, str]


def _bought(rng: random.Random) -> Pair:
    noun = rng.choice(NOUNS)
    name, ru_name, gender = rng.choice(PEOPLE)
    return (
        f"{name} bought a new {noun.en} yesterday."
        if not _plural(noun)
        else f"{name} bought new {noun.en} yesterday.",
        f"Вчера {ru_name} {BOUGHT[gender]} {NEW_ACC[_G[noun.gender]]} {noun.acc}.",
    )


def _arrived(rng: random.Random) -> Pair:
    noun = rng.choice(NOUNS)
    day, ru_day = rng.choice(DAYS)
    return (
        f"My {noun.en} arrived on {day}.",
        f"{MY[_G[noun.gender]].capitalize()} {noun.nom} {ARRIVED[_G[noun.gender]]} {ru_day}.",
    )


def _broke(rng: random.Random) -> Pair:
    noun = rng.choice(NOUNS)
    k = rng.randint(2, 9)
    return (
        f"The old {noun.en} broke after {k} days.",
        f"{OLD[_G[noun.gender]].capitalize()} {noun.nom} {BROKE[_G[noun.gender]]} через {k} {ru_days(k)}.",
    )


def _lives(rng: random.Random) -> Pair:
    name, ru_name, _ = rng.choice(PEOPLE)
    city, _, ru_city_prep = rng.choice(CITIES)
    return f"{name} lives in {city}.", f"{ru_name} живёт в {ru_city_prep}."


def _weather(rng: random.Random) -> Pair:
    city, _, ru_city_prep = rng.choice(CITIES)
    weather, ru_weather = rng.choice(WEATHER)
    return f"It is {weather} in {city} today.", f"Сегодня в {ru_city_prep} {ru_weather}."


def _travel(rng: random.Random) -> Pair:
    name, ru_name, gender = rng.choice(PEOPLE)
    city, ru_city, _ = rng.choice(CITIES)
    day, ru_day = rng.choice(DAYS)
    return (
        f"{name} went to {city} on {day}.",
        f"{ru_day.capitalize()} {ru_name} {WENT[gender]} в город {ru_city}.",
    )


def _where(rng: random.Random) -> Pair:
    noun = rng.choice(NOUNS)
    return (
        f"Where {IS_EN[_plural(noun)]} my {noun.en}?",
        f"Где {MY[_G[noun.gender]]} {noun.nom}?",
    )


def _reads(rng: random.Random) -> Pair:
    name, ru_name, _ = rng.choice(PEOPLE)
    return f"{name} reads a book every evening.", f"{ru_name} каждый вечер читает книгу."


TEMPLATES: list[Callable[[random.Random], Pair]] = [
    _bought,
    _arrived,
    _broke,
    _lives,
    _weather,
    _travel,
    _where,
    _reads,
]


def pairs(count: int, seed: int) -> list[dict[str, str]]:
    """``count`` distinct {"source": English, "target": Russian} pairs."""
    rng = random.Random(f"translation-en-ru-{seed}")

    def make() -> dict[str, str]:
        source, target = rng.choice(TEMPLATES)(rng)
        return {"source": source, "target": target}

    return draw_distinct(make, lambda p: p["source"], count, what="pairs")


def eval_pairs() -> list[dict[str, str]]:
    return pairs(EVAL_SIZE, EVAL_SEED)
