# ruff: noqa: RUF001, RUF003  -- sample sentences in their own scripts
"""Content policy: folding (Unicode tricks), blocklist phrases and regexes, denied topics, the length
cap and the language allow-list with its detector."""

from __future__ import annotations

import time
import unicodedata

import pytest

from pilothouse.core.guarding import ContentGuardConfig
from pilothouse.guard.content import _INVISIBLE, _SCAN, ContentPolicy, fold
from pilothouse.guard.language import DETECTABLE_LANGUAGES, detect_language
from pilothouse.guard.types import Finding

pytestmark = pytest.mark.unit


def policy(**kwargs: object) -> ContentPolicy:
    return ContentPolicy.from_config(ContentGuardConfig.model_validate({"guard": "content", **kwargs}))


def spans(text: str, findings: list[Finding], entity: str | None = None) -> list[str]:
    return [text[f.start : f.end] for f in findings if entity is None or f.entity == entity]


# --- folding --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Hello WORLD", "hello world"),
        ("ＢＯＭＢ", "bomb"),  # fullwidth
        ("\U0001d41b\U0001d428\U0001d426\U0001d41b", "bomb"),  # mathematical bold
        ("b\u200bo\u00adm\u2060b", "bomb"),  # zero-width space, soft hyphen, word joiner
        ("Straße", "strasse"),
        ("\ufb01ne", "fine"),  # the fi ligature
        ("cafe\u0301", "café"),  # a decomposed accent composes
        ("Привет", "привет"),
        ("数据，分析", "数据，分析"),  # fullwidth punctuation is left alone
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text).text == folded


def test_fold_maps_every_character_back_to_its_source() -> None:
    text = "x Straße \u200b ﬁ cafe\u0301 Ｚ"
    folded = fold(text)
    assert folded.starts is not None and folded.ends is not None
    assert len(folded.starts) == len(folded.ends) == len(folded.text)
    for i, ch in enumerate(folded.text):
        source = text[folded.starts[i] : folded.ends[i]]
        assert ch in unicodedata.normalize("NFKC", source).casefold()


def test_invisible_class_covers_every_format_character() -> None:
    missing = [
        hex(cp)
        for cp in range(0x110000)
        if unicodedata.category(chr(cp)) == "Cf" and not _INVISIBLE.match(chr(cp))
    ]
    assert missing == []


def test_blocks_left_out_of_the_scan_fold_to_themselves() -> None:
    scanned = [range(a, b) for a, b in _SCAN]
    for block in (range(0x3400, 0x4DC0), range(0x4E00, 0xA000), range(0xAC00, 0xD7A4)):
        assert not any(block.start in r for r in scanned)
        for cp in block:
            ch = chr(cp)
            assert unicodedata.normalize("NFKC", ch).casefold() == ch


# --- blocklist ------------------------------------------------------------------------------------


def test_blocklist_matches_whole_words_case_insensitively() -> None:
    p = policy(blocklist=["Project Falcon", "bomb"])
    text = "About PROJECT   falcon: the bombastic bomb."
    findings = p.check(text)
    assert spans(text, findings) == ["PROJECT   falcon", "bomb"]
    assert {(f.kind, f.entity, f.detector, f.score) for f in findings} == {
        ("content", "BLOCKLIST", "phrase", 1.0)
    }


@pytest.mark.parametrize(
    "text",
    [
        "a ＢＯＭＢ here",
        "a \U0001d41b\U0001d428\U0001d426\U0001d41b here",
        "a b\u200bomb here",
        "a bo\u00admb here",
        "a b\u043emb here",  # Cyrillic o inside a Latin word
        "a BOMB here",
    ],
)
def test_blocklist_sees_through_unicode_tricks(text: str) -> None:
    findings = policy(blocklist=["bomb"]).check(text)
    assert len(findings) == 1
    assert spans(text, findings)[0].strip() == text[2:-5]


def test_lookalikes_in_the_first_letter_and_in_phrases() -> None:
    p = policy(blocklist=["wire the money"])
    text = "please \u051dire the m\u03bfney now"  # Cyrillic we, Greek omicron
    assert spans(text, p.check(text)) == ["\u051dire the m\u03bfney"]


def test_plain_cyrillic_is_not_read_as_latin() -> None:
    # "сор" (Russian for litter) is all look-alikes of "cop": in Russian text it is Russian.
    assert policy(blocklist=["cop"]).check("\u0441\u043e\u0440 на полу") == []
    spoof = "please call the \u0441\u043e\u0440 right now"  # the same letters in English text
    assert spans(spoof, policy(blocklist=["cop"]).check(spoof)) == ["\u0441\u043e\u0440"]
    russian = policy(blocklist=["\u0441\u043e\u0440"])
    assert spans("Весь \u0421\u041e\u0420 тут", russian.check("Весь \u0421\u041e\u0420 тут")) == [
        "\u0421\u041e\u0420"
    ]


def test_spans_map_back_through_expansions() -> None:
    p = policy(blocklist=["strasse", "fine", "café"])
    text = "Die Straße ist \ufb01ne, le cafe\u0301!"
    assert spans(text, p.check(text)) == ["Straße", "\ufb01ne", "cafe\u0301"]


def test_phrases_with_punctuation_edges() -> None:
    p = policy(blocklist=["c++", "#secret", "a.b"])
    text = "I like c++ and #secret tags, not a.bc"
    assert spans(text, p.check(text)) == ["c++", "#secret"]


def test_nested_phrases_are_all_reported() -> None:
    p = policy(blocklist=["bomb", "bomb making", "making"])
    text = "no bomb making here"
    assert sorted(spans(text, p.check(text))) == ["bomb", "bomb making", "making"]


def test_many_phrases_use_the_other_regex_shape() -> None:
    words = [f"{chr(ord('a') + i)}word{i}" for i in range(20)] + ["-dash", "zz top"]
    p = policy(blocklist=words)
    text = "x " + " ".join(words) + " qword99 -dashy zz  top"
    found = spans(text, p.check(text))
    assert found == [*words, "zz  top"]


def test_regexes_run_on_the_original_text() -> None:
    p = policy(regexes=[r"[A-Z]{3}-\d{4}", r"(?i)falcon", r"x*"])
    text = "ticket ABC-1234, abc-1234, FALCON"
    findings = p.check(text)
    assert [(text[f.start : f.end], f.detector) for f in findings] == [
        ("ABC-1234", "regex:0"),
        ("FALCON", "regex:1"),
    ]


def test_invalid_regex_names_it() -> None:
    with pytest.raises(ValueError, match=r"regexes\[1\] '\(unclosed' is not a valid regular expression"):
        policy(regexes=["ok", "(unclosed"])


def test_empty_phrase_is_refused() -> None:
    with pytest.raises(ValueError, match=r"blocklist \[1\]"):
        policy(blocklist=["fine", " \u200b "])
    with pytest.raises(ValueError, match=r"denied_topics.weapons \[0\]"):
        policy(denied_topics={"weapons": [""]})


# --- topics ---------------------------------------------------------------------------------------


TOPICS = {"weapons": ["pipe bomb", "gunpowder", "detonator"], "medical": ["dosage", "diagnosis"]}


def test_one_strong_phrase_is_enough() -> None:
    findings = policy(denied_topics=TOPICS).check("How is a pipe bomb built?")
    assert [(f.entity, f.detector) for f in findings] == [("TOPIC:weapons", "phrase")]
    assert findings[0].score == pytest.approx(0.85)


def test_topic_score_grows_with_distinct_signals() -> None:
    p = policy(denied_topics=TOPICS)
    one = p.check("buy gunpowder")
    repeated = p.check("gunpowder, gunpowder and more gunpowder")
    two = p.check("gunpowder and a detonator")
    three = p.check("a pipe bomb with gunpowder and a detonator")
    assert one[0].score == pytest.approx(0.6)
    assert [f.score for f in repeated] == pytest.approx([0.6, 0.6, 0.6])
    assert [f.score for f in two] == pytest.approx([0.84, 0.84])
    assert three[0].score > two[0].score > one[0].score
    assert p.check("the weather is nice") == []


def test_topics_are_scored_apart_and_a_signal_may_serve_two() -> None:
    p = policy(denied_topics={"a": ["shared", "alpha"], "b": ["shared"]}, blocklist=["alpha"])
    findings = p.check("shared alpha")
    assert sorted((f.entity, round(f.score, 2)) for f in findings) == [
        ("BLOCKLIST", 1.0),
        ("TOPIC:a", 0.84),
        ("TOPIC:a", 0.84),
        ("TOPIC:b", 0.6),
    ]


# --- length and language --------------------------------------------------------------------------


def test_max_chars_flags_the_part_past_the_limit() -> None:
    p = policy(max_chars=10)
    assert p.check("0123456789") == []
    (finding,) = p.check("0123456789abc")
    assert (finding.entity, finding.start, finding.end, finding.detector) == (
        "MAX_LENGTH",
        10,
        13,
        "max_chars",
    )


SENTENCES = {
    "en": "The weather was nice yesterday, so we went for a long walk in the park with our dog.",
    "de": "Das Wetter war gestern sehr schön, also sind wir mit dem Hund lange im Park spazieren gegangen.",
    "fr": "Il faisait très beau hier, alors nous sommes allés nous promener dans le parc avec notre chien.",
    "es": "Ayer hizo muy buen tiempo, así que fuimos a dar un largo paseo por el parque con nuestro perro.",
    "it": "Ieri il tempo era molto bello, quindi siamo andati a fare una lunga passeggiata nel parco.",
    "pt": "Ontem o tempo estava muito bom, então fomos dar um longo passeio no parque com o nosso cão.",
    "nl": "Het weer was gisteren erg mooi, dus we hebben een lange wandeling in het park gemaakt.",
    "sv": "Vädret var mycket fint i går, så vi tog en lång promenad i parken med vår hund och åt lunch.",
    "da": "Vejret var meget godt i går, så vi gik en lang tur i parken med vores hund og spiste frokost.",
    "no": "Været var veldig fint i går, så vi gikk en lang tur i parken med hunden vår og spiste lunsj.",
    "pl": "Wczoraj pogoda była bardzo ładna, więc poszliśmy na długi spacer do parku z naszym psem.",
    "tr": "Dün hava çok güzeldi, bu yüzden köpeğimizle parkta uzun bir yürüyüş yaptık ve sonra evde yedik.",
    "cs": "Včera bylo velmi hezké počasí, takže jsme šli na dlouhou procházku do parku s naším psem.",
    "ro": "Ieri vremea a fost foarte frumoasă, așa că am făcut o plimbare lungă în parc cu câinele nostru.",
    "hu": "Tegnap nagyon szép idő volt, ezért hosszú sétát tettünk a parkban a kutyánkkal.",
    "fi": "Eilen sää oli todella kaunis, joten teimme pitkän kävelyn puistossa koiramme kanssa ja söimme.",
    "id": "Kemarin cuacanya sangat bagus, jadi kami berjalan-jalan lama di taman dengan anjing kami.",
    "vi": "Hôm qua thời tiết rất đẹp, vì vậy chúng tôi đã đi dạo một vòng dài trong công viên với con chó.",
    "ru": "Вчера была очень хорошая погода, поэтому мы долго гуляли в парке с нашей собакой.",
    "uk": "Вчора була дуже гарна погода, тому ми довго гуляли в парку з нашим собакою, а потім пообідали.",
    "el": "Χθες ο καιρός ήταν πολύ ωραίος, οπότε κάναμε μια μεγάλη βόλτα στο πάρκο με τον σκύλο μας.",
    "ar": "كان الطقس جميلا جدا بالأمس، لذلك ذهبنا في نزهة طويلة في الحديقة مع كلبنا ثم تناولنا الغداء.",
    "fa": "دیروز هوا خیلی خوب بود، پس با سگمان در پارک قدم زدیم و بعد ناهار را در خانه خوردیم.",
    "he": "אתמול מזג האוויר היה יפה מאוד, אז יצאנו לטיול ארוך בפארק עם הכלב שלנו ואחר כך אכלנו.",
    "hi": "कल मौसम बहुत अच्छा था, इसलिए हम अपने कुत्ते के साथ पार्क में लंबी सैर पर गए और फिर घर पर खाना खाया।",
    "zh": "昨天天气很好，所以我们带着狗在公园里散了很长时间的步，然后在家吃了午饭。",
    "ja": "昨日はとても天気が良かったので、犬と一緒に公園を長く散歩して、それから家で昼ご飯を食べました。",
    "ko": "어제 날씨가 아주 좋아서 우리는 강아지와 함께 공원에서 오래 산책을 하고 집에서 점심을 먹었습니다.",
    "th": "เมื่อวานอากาศดีมาก เราจึงพาสุนัขไปเดินเล่นในสวนสาธารณะเป็นเวลานาน แล้วกลับมากินข้าวที่บ้าน",
}


# A second register: a customer-support message.
SUPPORT = {
    "en": "Hi, I ordered a laptop last week and it still hasn't arrived. Could you please check my order?",
    "de": "Hallo, ich habe letzte Woche einen Laptop bestellt und er ist immer noch nicht angekommen.",
    "fr": "Bonjour, j'ai commandé un ordinateur la semaine dernière et il n'est toujours pas arrivé.",
    "es": "Hola, pedí un portátil la semana pasada y todavía no ha llegado. ¿Podrían revisar mi pedido?",
    "it": "Ciao, ho ordinato un portatile la settimana scorsa e non è ancora arrivato. Potete controllare?",
    "pt": "Olá, encomendei um portátil na semana passada e ainda não chegou. Podem verificar, por favor?",
    "nl": "Hallo, ik heb vorige week een laptop besteld en hij is nog steeds niet aangekomen.",
    "sv": "Hej, jag beställde en bärbar dator förra veckan och den har fortfarande inte kommit.",
    "da": "Hej, jeg bestilte en bærbar computer i sidste uge, og den er stadig ikke kommet. Kan I tjekke?",
    "pl": "Dzień dobry, zamówiłem laptopa w zeszłym tygodniu i nadal nie dotarł. Czy możecie sprawdzić?",
    "tr": "Merhaba, geçen hafta bir dizüstü bilgisayar sipariş ettim ve hâlâ gelmedi. Bakar mısınız?",
    "cs": "Dobrý den, minulý týden jsem objednal notebook a stále nedorazil. Můžete to prosím zkontrolovat?",
    "ro": "Bună ziua, am comandat un laptop săptămâna trecută și încă nu a ajuns. Puteți verifica, vă rog?",
    "hu": "Jó napot, a múlt héten rendeltem egy laptopot, és még mindig nem érkezett meg.",
    "fi": "Hei, tilasin kannettavan tietokoneen viime viikolla, eikä se ole vieläkään saapunut.",
    "id": "Halo, saya sudah memesan laptop minggu lalu dan sampai sekarang belum datang ke rumah saya.",
    "ru": "Здравствуйте, я заказал ноутбук на прошлой неделе, и он до сих пор не пришёл.",
}


@pytest.mark.parametrize(
    ("lang", "text"),
    [*SENTENCES.items(), *SUPPORT.items()],
    ids=[*SENTENCES, *(f"{k}-support" for k in SUPPORT)],
)
def test_detect_language(lang: str, text: str) -> None:
    assert lang in DETECTABLE_LANGUAGES
    detected = detect_language(text)
    assert detected is not None and detected[0] == lang
    assert 0.5 <= detected[1] <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "ok thanks",  # too short
        "Danke schön, merci beaucoup!",
        "John Smith, Acme Inc, 42 Main Street, Springfield, IL 62704, USA, +1 555 0100",  # no prose
        "SELECT id, name FROM users WHERE created_at > now() - interval '1 day' ORDER BY id",
        "Bitte translate this sentence for me, ich verstehe es nicht so gut, thanks a lot",  # mixed
        "The word Привет means hello; Вчера была очень хорошая погода, поэтому мы гуляли",  # mixed scripts
        "1234 5678 9012 3456 7890 1234 5678 9012 3456 7890 1234 5678",
        "",
    ],
)
def test_detect_language_abstains_when_unsure(text: str) -> None:
    assert detect_language(text) is None


def test_long_texts_are_judged_on_samples() -> None:
    assert detect_language(SENTENCES["de"] * 200) == detect_language(SENTENCES["de"] * 3)


def test_language_allow_list() -> None:
    p = policy(languages=["EN", "nb"])
    assert p.check(SENTENCES["en"]) == []
    assert p.check(SENTENCES["no"]) == []  # nb is Norwegian, which the detector names "no"
    assert p.check("Hallo!") == []  # too short to judge
    (finding,) = p.check(SENTENCES["de"])
    assert (finding.entity, finding.detector, finding.start, finding.end) == (
        "LANGUAGE",
        "language:de",
        0,
        len(SENTENCES["de"]),
    )


def test_language_codes_are_checked() -> None:
    with pytest.raises(ValueError, match="'english' is not an ISO 639-1 code"):
        policy(languages=["english"])


def test_findings_come_sorted_and_overlaps_are_kept() -> None:
    p = policy(blocklist=["secret"], regexes=[r"top \w+"], max_chars=8)
    findings = p.check("top secret")
    assert [(f.start, f.end) for f in findings] == [(0, 10), (4, 10), (8, 10)]


def test_check_is_cheap() -> None:
    p = policy(
        blocklist=["forbidden thing", "bomb", "credit card dump", "wire the money"],
        regexes=[r"(?i)project\s+falcon"],
        denied_topics=TOPICS,
        max_chars=3000,
        languages=["en", "de"],
    )
    texts = [(SENTENCES[lang] + " ") * 60 for lang in ("en", "de", "ru", "zh")]
    texts = [t[:4000] for t in texts]
    for text in texts:
        p.check(text)  # warm up (the folding tables are built once)
    start = time.perf_counter()
    for _ in range(20):
        for text in texts:
            p.check(text)
    per_check = (time.perf_counter() - start) / 80
    assert per_check < 0.01  # about 0.2-0.5 ms here; the bound catches pathological slowness only
