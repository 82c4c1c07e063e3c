"""Synthetic named-entity sentences (PER, LOC, ORG) in Russian and English with IOB2 tags.

Sentences are built as token lists, so tags and tokens line up by construction; punctuation is a
token of its own. Entities span one to three tokens (`Нижний Новгород`, `Лаборатория Касперского`,
`Anna Smirnova`), so entity-level scoring is exercised, not only single-token tags. Russian
templates keep each entity in a form that does not inflect there ("в компании Яндекс",
"живёт в городе Казань") or give the inflected form explicitly.
"""

from __future__ import annotations

import random

from grader.data import draw_distinct

TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")
EVAL_SEED = 2025
EVAL_SIZE = 200

# (name, grammatical gender of the past-tense verbs that follow it)
RU_PEOPLE = [
    ("Анна Смирнова", "f"),
    ("Иван Петров", "m"),
    ("Мария Кузнецова", "f"),
    ("Павел", "m"),
    ("Ольга Васильевна Соколова", "f"),
    ("Дмитрий Орлов", "m"),
    ("Екатерина", "f"),
    ("Сергей Иванович Попов", "m"),
    ("Наталья Морозова", "f"),
    ("Алексей", "m"),
]
RU_PAST = {"moved": {"m": "переехал", "f": "переехала"}, "spoke": {"m": "выступил", "f": "выступила"}}
# (nominative, prepositional) — "в Москве", "из Москвы" is avoided
RU_PLACES = [
    ("Москва", "Москве"),
    ("Казань", "Казани"),
    ("Новосибирск", "Новосибирске"),
    ("Санкт-Петербург", "Санкт-Петербурге"),
    ("Нижний Новгород", "Нижнем Новгороде"),
    ("Самара", "Самаре"),
    ("Екатеринбург", "Екатеринбурге"),
    ("Калининград", "Калининграде"),
    ("Великий Новгород", "Великом Новгороде"),
    ("Томск", "Томске"),
]
RU_ORGS = [
    "Яндекс",
    "Сбербанк",
    "ИТМО",
    "Лаборатория Касперского",
    "Газпром нефть",
    "МТС",
    "Росатом",
    "ВКонтакте",
]
RU_TEMPLATES = [
    "{PER} живёт в {LOC_prep} и работает в компании {ORG} .",
    "{PER} {moved} в город {LOC} прошлой весной .",
    "В компании {ORG} рассказали , что новый офис откроют в {LOC_prep} .",
    "Вчера {PER} {spoke} на конференции в {LOC_prep} .",
    "Компания {ORG} наняла {k} инженеров .",
    "{PER} и {PER2} обсудили проект с коллегами из компании {ORG} .",
    "Поезд прибыл в город {LOC} с опозданием .",
    "По словам {PER_gen_free} , погода в {LOC_prep} наладится к выходным .",
    "Сегодня в {LOC_prep} идёт дождь .",
    "Отчёт подготовили аналитики компании {ORG} .",
]
# "По словам X" needs the genitive; templates with it take only people whose names we can
# inflect reliably: first names in the genitive.
RU_PEOPLE_GENITIVE = {
    "Анна": "Анны",
    "Иван": "Ивана",
    "Мария": "Марии",
    "Павел": "Павла",
    "Екатерина": "Екатерины",
}

EN_PEOPLE = [
    "Anna Smirnova",
    "Ivan Petrov",
    "Maria",
    "Paul Walker",
    "Olga Sokolova",
    "Dmitry",
    "Kate Morgan",
    "Sergey Ivanovich Popov",
    "Natalie",
    "Alex Turner",
]
EN_PLACES = [
    "Moscow",
    "Kazan",
    "Novosibirsk",
    "Saint Petersburg",
    "Nizhny Novgorod",
    "London",
    "New York",
    "Berlin",
]
EN_ORGS = [
    "Yandex",
    "Sberbank",
    "ITMO University",
    "Kaspersky Lab",
    "Deutsche Bahn",
    "Google",
    "Rosatom",
    "Red Cross",
]
EN_TEMPLATES = [
    "{PER} lives in {LOC} and works at {ORG} .",
    "{PER} moved to {LOC} last spring .",
    "{ORG} said that the new office will open in {LOC} .",
    "Yesterday {PER} spoke at a conference in {LOC} .",
    "{ORG} hired {k} engineers .",
    "{PER} and {PER2} discussed the project with colleagues from {ORG} .",
    "The train arrived in {LOC} late .",
    "According to {PER} , the weather in {LOC} will improve by the weekend .",
    "It is raining in {LOC} today .",
    "The report was prepared by analysts at {ORG} .",
]


def _entity(text: str, kind: str) -> tuple[list[str], list[str]]:
    words = text.split()
    return words, [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)


def _sentence(template: str, slots: dict[str, tuple[str, str | None]]) -> tuple[list[str], list[str]]:
    """Template words → tokens and tags; `{slot}` words expand to their entity (or plain words)."""
    tokens: list[str] = []
    tags: list[str] = []
    for word in template.split():
        if word.startswith("{") and word.endswith("}"):
            text, kind = slots[word[1:-1]]
            if kind is None:
                tokens += text.split()
                tags += ["O"] * len(text.split())
            else:
                entity_tokens, entity_tags = _entity(text, kind)
                tokens += entity_tokens
                tags += entity_tags
        else:
            tokens.append(word)
            tags.append("O")
    return tokens, tags


def _ru_slots(rng: random.Random) -> dict[str, tuple[str, str | None]]:
    (person, gender), (other, _) = rng.sample(RU_PEOPLE, 2)
    place, prepositional = rng.choice(RU_PLACES)
    first = rng.choice(sorted(RU_PEOPLE_GENITIVE))
    return {
        "PER": (person, "PER"),
        "PER2": (other, "PER"),
        "moved": (RU_PAST["moved"][gender], None),
        "spoke": (RU_PAST["spoke"][gender], None),
        "PER_gen_free": (RU_PEOPLE_GENITIVE[first], "PER"),
        "LOC": (place, "LOC"),
        "LOC_prep": (prepositional, "LOC"),
        "ORG": (rng.choice(RU_ORGS), "ORG"),
        "k": (str(rng.randint(5, 40)), None),
    }


def _en_slots(rng: random.Random) -> dict[str, tuple[str, str | None]]:
    person, other = rng.sample(EN_PEOPLE, 2)
    return {
        "PER": (person, "PER"),
        "PER2": (other, "PER"),
        "LOC": (rng.choice(EN_PLACES), "LOC"),
        "ORG": (rng.choice(EN_ORGS), "ORG"),
        "k": (str(rng.randint(5, 40)), None),
    }


def sentences(language: str, count: int, seed: int) -> list[dict[str, list[str]]]:
    """``count`` distinct sentences as {"tokens": [...], "tags": [...]} (IOB2)."""
    templates, slots = (RU_TEMPLATES, _ru_slots) if language == "ru" else (EN_TEMPLATES, _en_slots)
    rng = random.Random(f"ner-{language}-{seed}")

    def make() -> dict[str, list[str]]:
        tokens, tags = _sentence(rng.choice(templates), slots(rng))
        return {"tokens": tokens, "tags": tags}

    return draw_distinct(make, lambda s: " ".join(s["tokens"]), count, what=f"{language} sentences")


def eval_sentences(language: str) -> list[dict[str, list[str]]]:
    return sentences(language, EVAL_SIZE, EVAL_SEED)


def training_sentences(language: str, count: int = 600, seed: int = 1) -> list[dict[str, list[str]]]:
    """More sentences from the same templates, none equal to an eval sentence."""
    held_out = {" ".join(s["tokens"]) for s in eval_sentences(language)}
    return [
        s for s in sentences(language, count + len(held_out), seed) if " ".join(s["tokens"]) not in held_out
    ][:count]
