"""Synthetic product reviews with a sentiment label (negative / neutral / positive), in Russian
and English, from hand-written templates with grammatical agreement (gender and number).

The eval sets `sentiment-ru.jsonl` and `sentiment-en.jsonl` are `reviews(language, 100, EVAL_SEED)`;
`training_reviews` draws more from the same templates for the demo, never repeating an eval text.
Templates mix plain statements with harder ones: negation ("ничуть не шумный", "not flimsy at all")
and contrast where the last clause decides ("Упаковка помята, но ...").
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass

from grader.data import draw_distinct

LABELS = ("negative", "neutral", "positive")
EVAL_SEED = 2025
EVAL_PER_LABEL = 100


def ru_plural(n: int, one: str, few: str, many: str) -> str:
    """1 день, 2 дня, 5 дней, 11 дней, 21 день."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


# --- Russian -----------------------------------------------------------------------------------

# (nominative, accusative, gender: m / f / n / pl)
RU_NOUNS = [
    ("телефон", "телефон", "m"),
    ("ноутбук", "ноутбук", "m"),
    ("чайник", "чайник", "m"),
    ("пылесос", "пылесос", "m"),
    ("роутер", "роутер", "m"),
    ("монитор", "монитор", "m"),
    ("фен", "фен", "m"),
    ("планшет", "планшет", "m"),
    ("кофеварка", "кофеварку", "f"),
    ("клавиатура", "клавиатуру", "f"),
    ("мышь", "мышь", "f"),
    ("лампа", "лампу", "f"),
    ("колонка", "колонку", "f"),
    ("мультиварка", "мультиварку", "f"),
    ("зубная щётка", "зубную щётку", "f"),
    ("зарядное устройство", "зарядное устройство", "n"),
    ("обогреватель", "обогреватель", "m"),
    ("наушники", "наушники", "pl"),
    ("часы", "часы", "pl"),
    ("весы", "весы", "pl"),
]
_GENDERS = ("m", "f", "n", "pl")
RU_POSITIVE = [
    ("отличный", "отличная", "отличное", "отличные"),
    ("удобный", "удобная", "удобное", "удобные"),
    ("надёжный", "надёжная", "надёжное", "надёжные"),
    ("качественный", "качественная", "качественное", "качественные"),
    ("прочный", "прочная", "прочное", "прочные"),
    ("лёгкий", "лёгкая", "лёгкое", "лёгкие"),
    ("тихий", "тихая", "тихое", "тихие"),
    ("красивый", "красивая", "красивое", "красивые"),
]
RU_NEGATIVE = [
    ("ужасный", "ужасная", "ужасное", "ужасные"),
    ("неудобный", "неудобная", "неудобное", "неудобные"),
    ("хлипкий", "хлипкая", "хлипкое", "хлипкие"),
    ("бракованный", "бракованная", "бракованное", "бракованные"),
    ("шумный", "шумная", "шумное", "шумные"),
    ("тяжёлый", "тяжёлая", "тяжёлое", "тяжёлые"),
    ("плохой", "плохая", "плохое", "плохие"),
    ("хрупкий", "хрупкая", "хрупкое", "хрупкие"),
]
RU_VERBS = {
    "broke": ("сломался", "сломалась", "сломалось", "сломались"),
    "arrived": ("пришёл", "пришла", "пришло", "пришли"),
    "works": ("работает", "работает", "работает", "работают"),
    "matches": ("соответствует", "соответствует", "соответствует", "соответствуют"),
}

RU_TEMPLATES: dict[str, list[str]] = {
    "positive": [
        "{N} {pos}, пользуюсь каждый день.",
        "Очень доволен покупкой: {n} {pos} и {pos2}.",
        "{N} {works} без нареканий уже {k} {months}, рекомендую.",
        "Доставка быстрая, {n} {pos}, цена приятно удивила.",
        "{N} ничуть не {neg}, зря читал плохие отзывы.",
        "Пятый день пользуюсь: {n} {pos}, всем советую.",
        "За эти деньги {n} просто {pos}.",
        "Упаковка помята, но {n} {pos}.",
    ],
    "negative": [
        "{N} {neg}, деньги на ветер.",
        "Через {k} {days} {n} {broke}, не рекомендую.",
        "Не советую: {n} {neg} и {neg2}.",
        "{N} совсем не {pos}, вернул продавцу.",
        "Упаковка красивая, но {n} {neg}.",
        "Пожалел о покупке: {n} {neg}, а поддержка молчит.",
        "Второй раз не куплю, {n} {neg}.",
        "Цена низкая, но {n} {neg}.",
    ],
    "neutral": [
        "{N} {arrived} в срок, пользуюсь {k} {days}, пока рано делать выводы.",
        "Заказал {acc} {when}, посмотрим, как покажет себя.",
        "{N} {matches} описанию на сайте, цвет {colour}.",
        "Купил {acc} {when} на распродаже, отзыв напишу позже.",
        "{N} {arrived} {when} в обычной коробке, инструкция на русском.",
        "Выбирал {acc} между {among} моделями, взял ту, что дешевле.",
        "{N} {arrived} {when}, пока не распаковывал.",
    ],
}
RU_WHEN = [
    "вчера",
    "сегодня утром",
    "на прошлой неделе",
    "в понедельник",
    "в пятницу",
    "на третий день после заказа",
]
RU_COLOURS = ["чёрный", "белый", "серый", "синий", "зелёный"]
RU_AMONG = ["двумя", "тремя", "четырьмя", "пятью"]


def _render_ru(template: str, rng: random.Random) -> str:
    nominative, accusative, gender = rng.choice(RU_NOUNS)
    g = _GENDERS.index(gender)
    pos, pos2 = rng.sample(RU_POSITIVE, 2)
    neg, neg2 = rng.sample(RU_NEGATIVE, 2)
    k = rng.randint(2, 11)
    return template.format(
        N=nominative[0].upper() + nominative[1:],
        n=nominative,
        acc=accusative,
        pos=pos[g],
        pos2=pos2[g],
        neg=neg[g],
        neg2=neg2[g],
        k=k,
        days=ru_plural(k, "день", "дня", "дней"),
        months=ru_plural(k, "месяц", "месяца", "месяцев"),
        when=rng.choice(RU_WHEN),
        colour=rng.choice(RU_COLOURS),
        among=rng.choice(RU_AMONG),
        **{verb: forms[g] for verb, forms in RU_VERBS.items()},
    )


# --- English -----------------------------------------------------------------------------------

# (noun, plural)
EN_NOUNS = [
    ("phone", False),
    ("laptop", False),
    ("kettle", False),
    ("vacuum cleaner", False),
    ("router", False),
    ("monitor", False),
    ("hair dryer", False),
    ("tablet", False),
    ("coffee maker", False),
    ("keyboard", False),
    ("mouse", False),
    ("lamp", False),
    ("speaker", False),
    ("slow cooker", False),
    ("toothbrush", False),
    ("charger", False),
    ("heater", False),
    ("headphones", True),
    ("earbuds", True),
    ("scales", True),
]
EN_POSITIVE = ["great", "comfortable", "reliable", "well made", "sturdy", "light", "quiet", "beautiful"]
EN_NEGATIVE = ["awful", "uncomfortable", "flimsy", "defective", "noisy", "heavy", "bad", "fragile"]

EN_TEMPLATES: dict[str, list[str]] = {
    "positive": [
        "The {n} {is} {pos}, I use {it} every day.",
        "Very happy with this purchase: the {n} {is} {pos} and {pos2}.",
        "The {n} {has} worked flawlessly for {k} months, recommended.",
        "Fast delivery, the {n} {is} {pos}, and the price was a nice surprise.",
        "The {n} {is} not {neg} at all, ignore the bad reviews.",
        "Five days in: the {n} {is} {pos}, I recommend {it} to everyone.",
        "For the money the {n} {is} simply {pos}.",
        "The box was dented, but the {n} {is} {pos}.",
    ],
    "negative": [
        "The {n} {is} {neg}, a waste of money.",
        "After {k} days the {n} broke, not recommended.",
        "Do not buy: the {n} {is} {neg} and {neg2}.",
        "The {n} {is} not {pos} at all, I returned {it}.",
        "Nice packaging, but the {n} {is} {neg}.",
        "I regret this purchase: the {n} {is} {neg} and support is silent.",
        "Never again, the {n} {is} {neg}.",
        "The price is low, but the {n} {is} {neg}.",
    ],
    "neutral": [
        "The {n} arrived on time, {k} days of use so far, too early to judge.",
        "Ordered the {n} {when}, we will see how it turns out.",
        "The {n} {matches} the description on the website, the colour is {colour}.",
        "Bought the {n} on sale {when}, will write a review later.",
        "The {n} came {when} in a plain box with a manual.",
        "Chose the {n} among {among} models and took the cheapest one.",
        "The {n} arrived {when}, not unpacked yet.",
    ],
}
EN_WHEN = ["yesterday", "this morning", "last week", "on Monday", "on Friday", "three days after the order"]
EN_COLOURS = ["black", "white", "grey", "blue", "green"]
EN_AMONG = ["three", "four", "five", "six"]


def _render_en(template: str, rng: random.Random) -> str:
    noun, plural = rng.choice(EN_NOUNS)
    pos, pos2 = rng.sample(EN_POSITIVE, 2)
    neg, neg2 = rng.sample(EN_NEGATIVE, 2)
    return template.format(
        n=noun,
        pos=pos,
        pos2=pos2,
        neg=neg,
        neg2=neg2,
        k=rng.randint(2, 11),
        it="them" if plural else "it",
        when=rng.choice(EN_WHEN),
        colour=rng.choice(EN_COLOURS),
        among=rng.choice(EN_AMONG),
        **(
            {"is": "are", "has": "have", "matches": "match"}
            if plural
            else {"is": "is", "has": "has", "matches": "matches"}
        ),
    )


@dataclass(frozen=True)
class Language:
    templates: dict[str, list[str]]
    render: Callable[[str, random.Random], str]


LANGUAGES = {"ru": Language(RU_TEMPLATES, _render_ru), "en": Language(EN_TEMPLATES, _render_en)}


def reviews(language: str, per_label: int, seed: int, exclude: Collection[str] = ()) -> list[dict[str, str]]:
    """``per_label`` distinct reviews for each label, shuffled; none of them in ``exclude``.

    Deterministic: Python's `random.Random` seeded with a string gives the same stream on every
    platform and Python version since 3.2.
    """
    spec = LANGUAGES[language]
    rng = random.Random(f"sentiment-{language}-{seed}")
    seen = set(exclude)
    out: list[dict[str, str]] = []
    for label in LABELS:

        def draw(label: str = label) -> str:  # the default binds this iteration's label
            return spec.render(rng.choice(spec.templates[label]), rng)

        texts = draw_distinct(
            draw,
            lambda text: text,
            per_label,
            exclude=seen,
            what=f"{label} reviews in {language}",
        )
        seen.update(texts)
        out += [{"text": text, "label": label} for text in texts]
    rng.shuffle(out)
    return out


def eval_reviews(language: str) -> list[dict[str, str]]:
    """The shipped eval set `sentiment-<language>` (the file is the source of truth; this regenerates it)."""
    return reviews(language, EVAL_PER_LABEL, EVAL_SEED)


def training_reviews(language: str, per_label: int = 200, seed: int = 1) -> list[dict[str, str]]:
    """Training data for the demo from the same templates, disjoint from the eval set."""
    return reviews(language, per_label, seed, exclude={r["text"] for r in eval_reviews(language)})
