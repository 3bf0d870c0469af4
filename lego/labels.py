"""Labels at several levels in one model: category, sub-category and the emoji itself.

All levels share one vocabulary, level after level (9 categories, then the sub-categories, then
the emoji), and a label is a set of indices into it, at most one per level. The label embedder
sums the embeddings of the indices given, so at sampling time any level can be given or left out,
and classifier-free guidance works against the empty set whichever levels were given.

A single index stands for itself and every level above it: picking "cat face" conditions on
"Animals & Nature", "animal-mammal" and "cat face" together, which is what training showed most.

Each emoji may have keywords (CLDR's, as a phone's emoji search uses them), so that a child who types
"car" finds "automobile" and "poop" the "pile of poo": ``search`` and ``choices_for`` use them beside names.

A request for a coarser class draws, per picture, one emoji under it (``LabelSpace.draw``): the model
learnt a category mostly through its emoji, and asked for "Animals & Nature" alone it blends them into
a blob, while a cat it can draw.

An unconditional model has an empty space (no classes): its only label is "no class".
"""

from __future__ import annotations

import difflib
import functools
import operator
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .messages import quoted

LEVELS = ("category", "subcategory", "emoji")
UNCONDITIONAL = "this model is unconditional: it takes no class"


_QUOTES = str.maketrans("‘’“”", "''\"\"")


def folded(text: str) -> str:
    """Case and typographic quotes folded, so that 'woman's hat' finds CLDR's 'woman’s hat'."""
    return text.translate(_QUOTES).lower()


def singular(word: str) -> str:
    """An English plural's singular, by its common endings ('puppies', 'boxes', 'cars'), since names and
    keywords are singular and a child types 'dogs'; a word that is no such plural comes back as it is."""
    for ending, replacement in (("ies", "y"), ("sses", "ss"), ("shes", "sh"), ("ches", "ch"), ("xes", "x"),
                                ("s", "")):
        stem = word[: -len(ending)] + replacement
        if word.endswith(ending) and len(stem) >= 3 and not word.endswith("ss"):
            return stem
    return word


def query_forms(query: str) -> list[str]:
    """The query folded, then with each word made singular if that differs: the forms a search tries in turn."""
    typed = folded(query).strip()
    single = " ".join(singular(w) for w in typed.split())
    return [typed] if single == typed else [typed, single]


class LabelError(ValueError):
    """A label that this model cannot take."""


def as_index(value: object) -> int:
    """An integer class index (numpy integers too); anything else is a LabelError."""
    if isinstance(value, bool):
        raise LabelError(f"class indices must be integers, got {quoted(value)}")
    try:
        return operator.index(value)
    except TypeError:
        raise LabelError(f"class indices must be integers, got {quoted(value)}") from None


@dataclass(frozen=True)
class LabelSpace:
    names: tuple[str, ...]  # every class, level blocks in order
    sizes: tuple[int, ...]  # classes per level
    parents: tuple[int, ...]  # per class, its class one level up (-1 on the top level)
    # per class, words people search it by (empty: none for any class); a search aid, not part of what a label is
    keywords: tuple[tuple[str, ...], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if sum(self.sizes) != len(self.names) or (self.parents and len(self.parents) != len(self.names)):
            raise LabelError(f"{len(self.names)} names, {len(self.parents)} parents for level sizes {self.sizes}")
        if self.keywords and len(self.keywords) != len(self.names):
            raise LabelError(f"{len(self.keywords)} keyword lists for {len(self.names)} classes")
        for index, parent in enumerate(self.parents):
            level = self.level_of(index)
            if (level == 0) != (parent == -1) or (parent != -1 and self.level_of(parent) != level - 1):
                raise LabelError(f"class {index} ({self.names[index]!r}) has parent {parent}, not a class one level up")

    @functools.cached_property
    def _described(self) -> dict[str, int]:
        """Each class by its picker entry, folded as ``resolve`` reads one."""
        return {folded(self.describe(i)): i for i in range(self.num_classes)}

    @classmethod
    def flat(cls, names: Sequence[str]) -> "LabelSpace":
        return cls(tuple(names), (len(names),), (-1,) * len(names))

    @property
    def depth(self) -> int:
        return len(self.sizes)

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def offset(self, level: int) -> int:
        return sum(self.sizes[:level])

    def level_of(self, index: int) -> int:
        if not self.num_classes:
            raise LabelError(UNCONDITIONAL)
        if not 0 <= index < self.num_classes:
            raise LabelError(f"class {index} is out of range 0..{self.num_classes - 1}")
        level, end = 0, self.sizes[0]
        while index >= end:
            level += 1
            end += self.sizes[level]
        return level

    def level_name(self, level: int) -> str:
        return LEVELS[level] if self.depth == len(LEVELS) else ("class" if self.depth == 1 else f"level {level}")

    def chain(self, index: int) -> tuple[int, ...]:
        """``index`` and its ancestors, top level first."""
        self.level_of(index)
        out = [index]
        while self.parents and self.parents[out[0]] >= 0:
            out.insert(0, self.parents[out[0]])
        return tuple(out)

    def row(self, label: int | Sequence[int] | None) -> list[int]:
        """One model input row: a class index per level, -1 where a level is left out."""
        row = [-1] * self.depth
        if label is None:
            return row
        given = tuple(label) if isinstance(label, (tuple, list)) else self.chain(as_index(label))
        for item in given:
            index = as_index(item)
            level = self.level_of(index)
            if row[level] != -1:
                raise LabelError(f"two classes on the {self.level_name(level)} level: {row[level]} and {index}")
            row[level] = index
        return row

    def summary(self) -> str:
        """'9 classes', or '9 categories, 33 sub-categories and 48 emoji' for a model with levels."""
        if not self.num_classes:
            return "no classes (unconditional)"
        if self.depth == 1:
            return f"{self.num_classes:,} classes"
        if self.depth != len(LEVELS):
            return ", ".join(f"{n:,} on level {k}" for k, n in enumerate(self.sizes))
        parts = [f"{n:,} {name if n == 1 else plural}" for n, name, plural in
                 zip(self.sizes, ("category", "sub-category", "emoji"), ("categories", "sub-categories", "emoji"))]
        return f"{', '.join(parts[:-1])} and {parts[-1]}"

    def describe(self, index: int) -> str:
        """'cat face (Animals & Nature / animal-mammal)': a class and where it sits."""
        chain = self.chain(index)
        if len(chain) == 1:
            return self.names[index]
        return f"{self.names[index]} ({' / '.join(self.names[i] for i in chain[:-1])})"

    def search_form(self, query: str) -> str:
        """``query`` folded, or its singular ('dogs' -> 'dog') where only that finds a class, or else the word of a
        name or keyword closest to it ('hambuger' -> 'hamburger', a child's spelling): the form a search uses, and
        the one a found keyword is shown for."""
        forms = query_forms(query)
        found = next((typed for typed in forms if self._search(typed, 1)), None)
        if found is not None:
            return found
        close = difflib.get_close_matches(forms[0], self._words, n=1, cutoff=0.8) if len(forms[0]) >= 4 else []
        return close[0] if close else forms[-1]

    @functools.cached_property
    def _words(self) -> list[str]:
        """Every name, keyword and word of a name, folded: what a misspelt query is matched against."""
        words = {folded(k) for ks in self.keywords for k in ks}
        for name in self.names:
            words.add(folded(name))
            words.update(w for w in re.split(r"[^a-z0-9]+", folded(name)) if len(w) >= 3)
        return sorted(words)

    def _keyword(self, index: int, typed: str) -> str | None:
        """The keyword of ``index`` that is ``typed``, else the first that starts with it, where its name does not
        contain ``typed``: shown beside the name, so that a search for 'car' visibly finds 'automobile'."""
        if not typed or not self.keywords or typed in folded(self.names[index]):
            return None
        starting = [k for k in self.keywords[index] if folded(k).startswith(typed)]
        return next((k for k in starting if folded(k) == typed), starting[0] if starting else None)

    def search(self, query: str, limit: int | None = 50) -> list[int]:
        """Classes whose name contains every word of ``query``, or with a keyword that starts with the whole of it
        ('car' finds 'automobile'). First an exact name, then names with the query's whole words ('face' is the dog
        face before the frog, whose keyword it is), an exact keyword (so 'car' is the automobile before the carrot),
        names whose words start with the query's, names that contain it, and last a keyword's start; shorter names
        first within each. A query that finds nothing is tried in the singular ('dogs'), then spelt as the closest
        word (``search_form``)."""
        return self.search_formed(self.search_form(query), limit)

    def search_formed(self, form: str, limit: int | None = 50) -> list[int]:
        """``search`` for a query already in the form ``search_form`` gives: a caller that needs the form too
        (to say what was searched for) works it out once."""
        return self._search(form, limit)

    def match(self, index: int, form: str) -> int | None:
        """How class ``index`` matches a search for ``form`` (as ``search_form`` gives it), best first: 0 its name,
        1 whole words of its name, 2 a keyword, 3 the starts of words of its name, 4 part of its name, 5 the start
        of a keyword; None not at all."""
        name, words = folded(self.names[index]), form.split()
        if all(w in name for w in words):
            parts = re.split(r"[^a-z0-9]+", name)
            if name == form:
                return 0
            if all(w in parts for w in words):
                return 1
            return 3 if all(any(part.startswith(w) for part in parts) for w in words) else 4
        keyword = self._keyword(index, form)
        if keyword is None:
            return None
        return 2 if folded(keyword) == form else 5

    def _search(self, typed: str, limit: int | None) -> list[int]:
        ranks = [((m, len(folded(self.names[i])), i), i) for i in range(self.num_classes)
                 if (m := self.match(i, typed)) is not None]
        return [i for _, i in sorted(ranks)][:limit]

    def in_display_order(self) -> list[int]:
        """Every class grouped under its category: category, then each sub-category and its emoji."""
        children: dict[int, list[int]] = {}
        for index, parent in enumerate(self.parents):
            children.setdefault(parent, []).append(index)
        order: list[int] = []

        def visit(index: int) -> None:
            order.append(index)
            for child in children.get(index, []):
                visit(child)

        for top in range(self.sizes[0]):
            visit(top)
        return order

    def first_finest(self, top: int | None = None) -> int | None:
        """The first class of the finest level in display order (one emoji, where a category's pictures
        would blend its members), within the top-level class ``top`` if given; None if there is none."""
        return next((i for i in self.in_display_order() if self.level_of(i) == self.depth - 1
                     and (top is None or self.chain(i)[0] == top)), None)

    @functools.cached_property
    def _finest_under(self) -> dict[int, list[int]]:
        under: dict[int, list[int]] = {}
        for index in range(self.offset(self.depth - 1), self.num_classes):
            for ancestor in self.chain(index):
                under.setdefault(ancestor, []).append(index)
        return under

    def draw(self, index: int, seed: int) -> int:
        """The class a picture of ``index`` is drawn as: ``index`` itself on the finest level, else one of the
        finest classes under it, picked by the picture's seed (so the same seed draws the same emoji)."""
        self.level_of(index)  # a class of this space
        choices = self._finest_under.get(index, [index])  # a finest class is under itself
        return choices[random.Random(seed).randrange(len(choices))]

    def describe_drawn(self, index: int, seed: int) -> str:
        """What one picture of ``index`` shows: 'cat face, one of Animals & Nature' for a coarser class."""
        drawn = self.draw(index, seed)
        return self.describe(index) if drawn == index else f"{self.names[drawn]}, one of {self.names[index]}"

    def members(self, top: int, level: int) -> list[int]:
        """The classes of ``level`` that belong to the top-level class ``top`` (a category's emoji)."""
        start = self.offset(level)
        return [i for i in range(start, start + self.sizes[level]) if self.chain(i)[0] == top]

    def choices(self) -> list[str]:
        """The picker's entries, grouped under their categories: each class as ``describe`` gives it."""
        return [self.describe(i) for i in self.in_display_order()]

    def choices_for(self, form: str) -> list[tuple[str, str]]:
        """The picker's entries as (shown, value) after a search, ``form`` being the query as ``search_form`` gives
        it: one that a keyword finds shows it ('automobile, or car (Travel & Places / transport-ground)'); the value
        stays the entry ``resolve`` takes."""
        out = []
        for i in self.in_display_order():
            value, keyword = self.describe(i), self._keyword(i, form)
            name = self.names[i]  # value is the name, then where it sits
            out.append((value if keyword is None else f"{name}, or {keyword}{value[len(name):]}", value))
        return out

    def sub(self, kept: Sequence[int]) -> "LabelSpace":
        """The space of the classes ``kept`` (each with its parent), in their order here, keywords kept."""
        kept = list(kept)
        new_index = {old: new for new, old in enumerate(kept)}
        try:
            parents = tuple(-1 if self.parents[i] < 0 else new_index[self.parents[i]] for i in kept)
        except KeyError as exc:
            raise LabelError(f"class {exc.args[0]} is the parent of a class kept, and is not kept") from None
        levels = [self.level_of(i) for i in kept]
        sizes = tuple(n for n in (levels.count(level) for level in range(self.depth)) if n)
        return LabelSpace(tuple(self.names[i] for i in kept), sizes, parents,
                          tuple(self.keywords[i] for i in kept) if self.keywords else ())

    def resolve(self, text: str) -> int:
        """The class a picker entry or a class name (any case), or an index written as digits, stands for."""
        if not self.num_classes:
            raise LabelError(UNCONDITIONAL)
        text = str(text).strip()
        key = folded(text)
        if key in self._described:
            return self._described[key]
        if text.isascii() and text.removeprefix("-").isdigit():
            index = int(text) if len(text) <= 18 else None  # Python refuses to read thousands of digits
            if index in range(self.num_classes):
                return index
            shown = text if len(text) <= 18 else quoted(text)
            raise LabelError(f"class {shown} is out of range: an index is 0..{self.num_classes - 1}, or give a name")
        named = [i for i, name in enumerate(self.names) if folded(name) == key]
        if named:
            return named[-1]  # the finest level: 'hotel' the emoji rather than the sub-category
        hints = [self.describe(i) for i in self.search(text, limit=5)]
        raise LabelError(f"unknown class {quoted(text)}" + (f"; did you mean: {'; '.join(hints)}?" if hints else
                                                      f"; the {self.level_name(0)} choices are: "
                                                      f"{', '.join(self.names[:self.sizes[0]])}"))

