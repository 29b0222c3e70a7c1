# ruff: noqa: RUF001  -- the stopword lists are written in their own scripts
"""Language identification for the content policy's allow-list, in pure Python.

Scripts decide most languages outright; Latin-script (and Cyrillic) languages are told apart by
their commonest function words, which make up a third or more of running prose in any of them,
plus a few letters that only some of them use. Hand-written lists, no trained profile: decent on a
sentence or more, and it abstains rather than guess on short, mixed or non-prose text.
"""

from __future__ import annotations

import re
from collections import Counter

_STOPWORDS = {
    "en": "the and of to in is that it for was on are with as be this have from or by not but what all"
    " were when we there can an your which their if has will would one more about they you he she"
    " his her them been do does did so no my me our out up than then these those also its into who"
    " could should just i",
    "de": "der die das und ist nicht ein eine einen einem einer zu den dem des mit von sich auf für im"
    " auch es sie ich wir ihr er war aber wie oder noch nach bei aus wenn nur kann sind werden"
    " wird hat haben dass über unter bis durch schon sehr hier mein kein keine man diese dieser",
    "fr": "le la les de des du un une et est que qui dans pour pas sur au aux avec ce cette il elle ils"
    " nous vous je ne se sont par plus mais ou comme tout être avoir été était leur leurs son sa"
    " ses très aussi dont où qu sont cela ces on",
    "es": "el la los las de del y en que un una es por con para no se su sus al lo como más pero le ya"
    " o este esta son fue ha muy también sin sobre entre cuando hay yo nos está están tiene ser",
    "it": "il lo la gli le di del della dei delle che e è un una per con non si da sono come ma anche"
    " nel nella alla questo questa ho ha mi ci più molto essere suo sua loro quando degli sul",
    "pt": "o a os as de do da dos das e que um uma para com não se por mais como mas ao na no nas nos é"
    " foi são ele ela eles você muito também seu sua isso está ou já pelo pela tem",
    "nl": "de het een en van is dat die niet in op te zijn met voor er aan ook als maar om bij uit dan"
    " naar wat ik je we hij zij was wordt worden heeft hebben nog kan geen deze dit zich",
    "sv": "och att det som en ett är på för med av till den inte har var jag du vi han hon de om men så"
    " i vår oss mot utan över kan vid från eller också sig hade när mycket efter skulle detta nu"
    " vad här där blev våra mig dig hemma sedan gick bara väldigt",
    "da": "jer jeres sidste hej og at det som en et er på for med af til den ikke har var jeg du vi han"
    " hun de om men så kan i ved fra eller også sig havde når meget efter skulle dette nu hvad"
    " hvor blev vores mig dig godt derhjemme bagefter gik jo",
    "no": "dere deres hei og at det som en et er på for med av til den ikke har var jeg du vi han hun"
    " de om men så kan i ved fra eller også seg hadde når mye etter skulle dette nå hva hvor ble"
    " vår våre meg deg veldig hjemme etterpå gikk bare",
    "pl": "i w na z że się nie do to jest jak co ale o od po tak za przez dla jego jej są być tylko już"
    " czy może bardzo także który która które tym ten ta",
    "tr": "merhaba lütfen teşekkür evet hayır şimdi hâlâ önce her hiç nasıl neden siz misiniz veya ya"
    " mu mü ve bir bu da de için ile çok ne o ama gibi daha en var yok olarak olan sonra kadar"
    " değil ben sen biz onlar mı mi şey her ki",
    "cs": "prosím děkuji dobrý mé můj moje stále ještě jen nebo až co kde proč mi mě vás vám nás jsme"
    " jste bych a v se na je že to s z do o ale jak by jsem jsou není pro ve tak jako už který"
    " která které také byl bylo jeho její podle když",
    "ro": "și în de la cu un o a pe nu că este sunt care din pentru mai ce se ca dar fost au am al ale"
    " lui ei sau acest această foarte",
    "hu": "a az és hogy nem is egy van meg de ez ki el volt már csak mint vagy még azt ezt kell lesz"
    " lehet nagyon minden ami aki",
    "fi": "eikä hei kiitos mikä missä kanssa jos vielä koska sitten voi ja on ei se että oli hän mutta"
    " kun niin tai joka mitä myös kuin ovat olla tämä sen ole vain jo nyt minä sinä me te he",
    "id": "yang dan di ini itu dengan untuk tidak dari dalam akan pada juga ke karena ada saya kami"
    " kita mereka bisa sudah atau oleh adalah",
    "vi": "và của là có không được trong cho một những người này với các đã để khi cũng như thì nhưng",
    "ru": "и в не на что я с он как это по но из у за от о же так все его она мы вы был были к бы для"
    " только уже или да нет когда если ещё даже",
    "uk": "і в не на що я з він як це по але із у за від про та так все його вона ми ви був були до би"
    " для тільки вже або ні коли якщо ще навіть",
}
# Letters few languages use: (letters, languages); each letter group counts as half a function word,
# at most four times.
_LETTER_HINTS = (
    ("ß", ("de",)),
    ("ñ¿¡", ("es",)),
    ("ãõ", ("pt",)),
    ("œ", ("fr",)),
    ("łąęśźżćń", ("pl",)),
    ("ěřů", ("cs",)),
    ("șțţ", ("ro",)),
    ("ş", ("tr", "ro")),
    ("ğı", ("tr",)),
    ("őű", ("hu",)),
    ("æø", ("da", "no")),
    ("å", ("sv", "da", "no")),
    ("ơưđ", ("vi",)),
    ("їєґ", ("uk",)),
    ("ыэъё", ("ru",)),
)


def _word_weights() -> dict[str, tuple[tuple[str, float], ...]]:
    langs: dict[str, list[str]] = {}
    for lang, words in _STOPWORDS.items():
        for word in set(words.split()):
            langs.setdefault(word, []).append(lang)
    # A word several languages share is weaker evidence for each of them.
    return {w: tuple((lang, 1.0 / len(ls)) for lang in ls) for w, ls in langs.items()}


_WORD_WEIGHTS = _word_weights()
_HINT_LANGS = {ch: langs for letters, langs in _LETTER_HINTS for ch in letters}
_HINT = re.compile(f"[{''.join(_HINT_LANGS)}]")
WORD = re.compile(r"[^\W\d_]+")
# Scripts that name their language (or a tight group) outright, commonest first: the scan stops at
# the first that covers most letters.
_LATIN = re.compile(r"[a-zA-Z\u00c0-\u024f\u1e00-\u1eff]+")
_SCRIPTS = (
    ("cyrillic", re.compile(r"[\u0400-\u04ff]+")),
    ("cjk", re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\u3040-\u30ff\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+")),
    ("arabic", re.compile(r"[\u0600-\u06ff\u0750-\u077f]+")),
    ("hi", re.compile(r"[\u0900-\u097f]+")),
    ("el", re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]+")),
    ("he", re.compile(r"[\u0590-\u05ff]+")),
    ("th", re.compile(r"[\u0e00-\u0e7f]+")),
)
_KANA = re.compile(r"[\u3040-\u30ff]+")
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+")
_PERSIAN = re.compile("[\u067e\u0686\u0698\u06af\u06a9\u06cc]")  # پ چ ژ گ and Persian kaf, yeh
_ARABIC = re.compile("[\u0629\u064a\u0643]")  # ة and Arabic yeh, kaf
# Every code detect_language may return; a config allowing others gets no help from it.
DETECTABLE_LANGUAGES = frozenset(_STOPWORDS) | {"el", "he", "hi", "th", "ar", "fa", "zh", "ja", "ko"}
MIN_LETTERS = 40  # below this, function-word counts are noise
_MIN_CJK = 12  # ideographs carry more per character
_WINDOW = 400  # long texts are judged on three windows (start, middle, end): the cost stays flat


def _sample(text: str) -> str:
    if len(text) <= 3 * _WINDOW:
        return text
    mid = len(text) // 2 - _WINDOW // 2
    return " ".join((text[:_WINDOW], text[mid : mid + _WINDOW], text[-_WINDOW:]))


def detect_language(text: str) -> tuple[str, float] | None:
    """``(ISO 639-1 code, confidence)`` of the text's language, or ``None`` when unsure: too short,
    mixed, not prose, or a language this detector does not know. Long texts are sampled, so a short
    passage in another language inside a long one goes unnoticed: a product-policy aid, not a
    security boundary."""
    sample = _sample(text).casefold()
    words = WORD.findall(sample)
    letters = sum(map(len, words))
    if sample.isascii():
        return _by_words(words, []) if letters >= MIN_LETTERS else None
    latin = sum(map(len, _LATIN.findall(sample)))
    if latin >= 0.8 * letters:
        return _by_words(words, _HINT.findall(sample)) if latin >= MIN_LETTERS else None
    for script, pattern in _SCRIPTS:
        count = sum(map(len, pattern.findall(sample)))
        if script == "cjk" and count >= _MIN_CJK and count >= 0.6 * letters:
            return _cjk(sample, count)
        if count >= 0.8 * letters:
            return _by_script(script, sample, words) if count >= MIN_LETTERS else None
    return None  # a mix of scripts, or one this detector does not know


def _cjk(sample: str, count: int) -> tuple[str, float]:
    if sum(map(len, _HANGUL.findall(sample))) >= count / 2:
        return "ko", 0.95
    # Japanese writes kana between its kanji; Chinese has none.
    return ("ja", 0.95) if sum(map(len, _KANA.findall(sample))) >= 0.1 * count else ("zh", 0.9)


def _by_script(script: str, sample: str, words: list[str]) -> tuple[str, float] | None:
    if script == "cyrillic":
        return _by_words(words, _HINT.findall(sample))
    if script == "arabic":
        persian, arabic = len(_PERSIAN.findall(sample)), len(_ARABIC.findall(sample))
        if persian > 2 * arabic:
            return "fa", 0.85
        return ("ar", 0.85) if arabic > 2 * persian else None
    if script == "cjk":
        return None  # too few ideographs among other letters
    return script, 0.95


def _by_words(words: list[str], hints: list[str]) -> tuple[str, float] | None:
    counts = Counter(words)
    hits = 0
    scores: dict[str, float] = {}
    for word in counts.keys() & _WORD_WEIGHTS.keys():
        n = counts[word]
        hits += n
        for lang, weight in _WORD_WEIGHTS[word]:
            scores[lang] = scores.get(lang, 0.0) + n * weight
    if hits < max(2, 0.1 * len(words)):
        return None  # too few function words: a list, code or names, not prose
    hinted: Counter[tuple[str, ...]] = Counter(_HINT_LANGS[ch] for ch in hints)
    for langs, n in hinted.items():
        for lang in langs:
            scores[lang] = scores.get(lang, 0.0) + 0.5 * min(n, 4) / len(langs)
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    best_lang, best = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    # Either a fair amount of evidence with a clear lead, or a little with an overwhelming one in
    # text dense with function words (prose; a SQL query has some English keywords, but fewer).
    clear = best >= 2.0 and second <= best / 1.5
    overwhelming = best >= 1.5 and second <= best / 3 and hits >= 0.25 * len(words)
    if not (clear or overwhelming):
        return None
    margin = 1.0 - second / best  # at least 1/3 here
    return best_lang, round(min(1.0, 0.5 + 0.5 * margin + 0.02 * best), 3)
