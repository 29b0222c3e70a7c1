"""The rule table of the heuristics: named, weighted regular expressions over folded text.

A rule's name is ``family.what``; ``anchors`` are cheap substrings without which it cannot match;
``dampen`` rules weaken inside a sentence that asks about the phrase; ``unled`` rules count fully only
when an imperative leads into them; ``shadowed_by`` names the stricter rule that makes one redundant.
Weights are chosen so that no phrase an ordinary user types reaches 0.5 on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FAMILIES = ("override", "exfiltration", "roleplay", "delimiter", "indirect", "encoding", "obfuscation")

# Does an imperative start right before a match: start of text, line or clause, or a softener?
LED = re.compile(
    r"(?:^|[\n.!?:;\"'`*>\])(|\-]|\b(?:please|pls|now|just|first|then|and|so|kindly|simply|also|but|ok|okay|"
    r"actually|you (?:must|should|will|need to|have to|sha"
    r"ll)|i (?:want|need|command|order|instruct) you to|to|"
    r"must|should))\s*$"
)
_OVERRIDE_VERB = (
    r"(?:ignore|disregard|forget|skip|override|bypass|neglect|overlook|discard|dismiss|abandon|erase|"
    r"set aside|put aside|pay no attention to|do not (?:follow|obey|listen to|adhere to)|"
    r"don'?t (?:follow|obey|listen to)|stop following|no longer follow)"
)
_OVERRIDE_OBJECT = (
    r"(?:(?!my\b|our\b)\w+ ){0,3}?(?:previous|prior|preceding|above|earlier|initial|original|foregoing|"
    r"former|old|existing|system|developer|default|all|any|every|your|the above)"
    r"(?: (?!my\b|our\b)\w+){0,3}? (?:instructions?|prompts?|directions?|directives?|commands?|rules|"
    r"guidelines|constraints|restrictions|programming|guardrails|filters|polic(?:y|ies)|context|"
    r"conditioning|orders|training|settings|text|input|tasks?)\b"
)
_AI = r"(?:ai|a\.i\.|llm|language model|assistant|chatbot|bot|agent|gpt|claude|model)"
_NOT_JOB = (
    r"(?! (?:manager|director|professor|coach|editor|principal|teacher|secretary|engineer|coordinator))"
)
_LIMITS = (
    r"(?:restrictions|limitations|limits|filters|filtering|censorship|guidelines|rules|polic(?:y|ies)|"
    r"constraints|boundaries|principles|considerations|safeguards|guardrails|confines|standards|ethics|"
    r"morals|programming)"
)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    weight: float
    pattern: re.Pattern[str]
    # Cheap substring test first: most texts contain none of these and skip the regex.
    anchors: tuple[str, ...]
    # Weaker when the same sentence asks about or discusses the phrase rather than using it.
    dampen: bool = False
    # A looser version of another rule: not counted again when that one fired.
    shadowed_by: str = ""
    # When set, full weight only if an imperative leads into the match ("...: ignore all previous
    # instructions"), else this weight ("models that ignore previous instructions").
    unled: float | None = None

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]


def _rule(
    name: str,
    weight: float,
    pattern: str,
    anchors: str,
    *,
    dampen: bool = False,
    shadowed_by: str = "",
    unled: float | None = None,
) -> Rule:
    compiled = re.compile(pattern, re.MULTILINE)
    return Rule(name, weight, compiled, tuple(anchors.split("|")), dampen, shadowed_by, unled)


_IGNORE_ANCHORS = (
    "ignor|disregard|forget|skip|overrid|bypass|neglect|overlook|discard|dismiss|abandon|erase|aside|attention|"
    "follow|obey|listen|adhere"
)

RULES: tuple[Rule, ...] = (
    # --- override ---
    _rule(
        "override.ignore_previous",
        0.9,
        rf"\b{_OVERRIDE_VERB} {_OVERRIDE_OBJECT}",
        _IGNORE_ANCHORS,
        dampen=True,
        unled=0.35,
    ),
    _rule(
        "override.regardless",
        0.7,
        r"\b(?:regardless of|no matter|in spite of|despite|notw"
        r"ithstanding) (?:any |all |your |the |what )?(?:\w+ )?"
        r"(?:previous|prior|preceding|above|earlier|original|"
        r"system|initial) (?:\w+ )?(?:instructions?|prompts?|"
        r"input|rules|guidelines|directives?|commands?|programming|says?)",
        "regardless|no matter|spite|despite|notwithstanding",
    ),
    _rule(
        "override.new_instructions",
        0.45,
        r"(?:^|[*#=\-\[(<]\s*)(?:new|updated|revised|real|actual|true|additional|secret|hidden|override|"
        r"priority|urgent)\s+(?:important\s+)?(?:instructions?|directives?|orders|system (?:prompt|message|"
        r"instructions?))\s*(?:[:!*\]\)>-]|\n)",
        "instruction|directive|orders|system",
    ),
    _rule(
        "override.new_task",
        0.45,
        r"\byour (?:new|real|true|actual|only|updated) (?:task|goal|objective|instructions?|purpose|mission|"
        r"role|directive|job) (?:is|are|will be|now is|from now)",
        "your",
    ),
    _rule(
        "override.you_are_now",
        0.6,
        rf"\byou are now (?:(?:a|an|the) (?:\w+ ){{0,2}}?(?:{_AI}|persona|character|version|entity|gpt)\b|"
        r"(?:in|entering|operating in) (?:\w+ ){0,2}?mode|no"
        r" longer (?:an? )?(?:ai|assistant|bound|restricted|"
        r"chatgpt|claude|llama|limited|required|an ai)|going to (?:act|pretend|role-?play|simulate)|"
        r"called|named|known as|free (?:from|of)|unrestricted|unfiltered|uncensored|jailbroken|dan\b|evil|"
        r"liberated|unbound)",
        "you are now",
    ),
    _rule(
        "override.from_now_on",
        0.4,
        r"\b(?:from now on|from this (?:point|moment) (?:on|forward)|henceforth|for the rest of (?:this|our) "
        r"conversation),? (?:you|your)(?: \w+){0,2}? (?:will|are|must|shall|should|answer|respond|act|reply|"
        r"only|never|always|speak|behave|pretend)",
        "from now|from this|henceforth|rest of",
    ),
    _rule(
        "override.priority",
        0.7,
        r"\b(?:this|these|the following) (?:instructions?|me"
        r"ssage|directive|command|note)s? (?:takes?|has|have|"
        r"overrides?|supersedes?) (?:\w+ )?(?:priority|preced"
        r"ence|all)|\b(?:overrides?|supersedes?) (?:all|any) "
        r"(?:previous|prior|other|earlier)",
        "priority|precedence|overrid|supersed",
    ),
    _rule(
        "override.forget_everything",
        0.35,
        r"\bforget (?:everything|all(?: that)?|what) "
        r"(?:you (?:know|were told|have been told|learned)|above|before|previously)",
        "forget",
        unled=0.0,
    ),
    _rule("override.stop", 0.3, r"\bstop everything\b|\bstop what you(?:'re| are) doing\b", "stop"),
    # --- exfiltration ---
    _rule(
        "exfiltration.reveal_prompt",
        0.85,
        r"\b(?:reveal|print|repeat|show|display|output|tell|g"
        r"ive|dump|leak|share|disclose|recite|spell out|echo|"
        r"list|paste|copy|return|send|translate|encode|summa"
        r"ri[sz]e|write (?:out|down)|provide|what (?:is|are|"
        r"were))(?: me| us)?(?: \w+){0,3}? (?:your|the assis"
        r"tant'?s|the model'?s|the bot'?s|its) (?:\w+ ){0,3}?"
        r"(?:system (?:prompt|message|instructions?)|(?:init"
        r"ial|original|hidden|secret|internal|first|starting|"
        r"beginning|confidential|developer|pre-?) ?(?:prompt|instructions?|message|directives?|configuration|"
        r"guidelines|rules))",
        "your|its|'s",
    ),
    _rule(
        "exfiltration.your_instructions",
        0.45,
        r"\b(?:reveal|print|repeat|show|display|output|tell me"
        r"|give me|dump|leak|share|disclose|recite|what (?:is|"
        r"are|were)) (?:me )?(?:all )?your (?:exact |full |co"
        r"mplete |entire )?(?:prompt|instructions|directives|"
        r"configuration|programming)\b",
        "your",
    ),
    _rule(
        "exfiltration.system_prompt",
        0.5,
        r"\b(?:reveal|print|repeat|show|display|output|dump|leak|disclose|recite|expose|extract|exfiltrate|"
        r"console\.log)(?: \w+){0,3}? ?\(?(?:the )?(?:system ?prompt|system message|system instructions|"
        r"initial prompt|hidden prompt|pre-?prompt|hidden instructions)",
        "system|prompt|hidden",
        dampen=True,
    ),
    _rule(
        "exfiltration.text_above",
        0.6,
        r"\b(?:repeat|print|output|reproduce|copy|show|return|"
        r"echo|recite)(?: back)?(?: \w+){0,3}? (?:(?:the |all )"
        r"?(?:text|words|content|everything|messages?|lines|instructions|initiali[sz]ation)) (?:above|before "
        r"(?:this|that)|that came before|prior to this|preced"
        r"ing|you were given)|(?:starting|beginning) (?:with|"
        r"from) [\"'“]?you are\b|\boutput initiali[sz]ation",
        "above|before|preceding|given|you are|initiali",
    ),
    _rule(
        "exfiltration.what_instructions",
        0.55,
        r"\b(?:what|which) (?:are|were|is) (?:your|the) (?:\w+ ){0,2}?(?:system prompt|initial (?:prompt|"
        r"instructions)|original instructions|hidden instructions|secret instructions|instructions you were "
        r"given|rules you were given)|\bwhat were you (?:told|instructed|programmed)|\bwhat (?:are|were) you "
        r"(?:told|instructed|programmed) (?:to|not to)|\bwhat a"
        r"re you not (?:supposed|allowed) to (?:tell|say|share)",
        "what",
    ),
    _rule(
        "exfiltration.secret",
        0.45,
        r"\b(?:reveal|tell me|give me|print|spell|show|leak|di"
        r"sclose)(?: \w+){0,2}? (?:the|your) (?:secret|hidden|"
        r"confidential) (?:password|key|word|code|phrase|passphrase)",
        "secret|hidden|confidential",
    ),
    # --- roleplay ---
    _rule("roleplay.dan", 0.85, r"\bdo anything now\b", "anything now"),
    _rule(
        "roleplay.dan_mode",
        0.7,
        r"\b(?:dan mode|as dan\b|stay (?:a )?dan|you are dan|act as dan|dan "
        r"jailbreak|dan prompt|dan:)",
        "dan",
        dampen=True,
    ),
    _rule(
        "roleplay.developer_mode",
        0.75,
        r"\bdeveloper mode.{0,80}?(?:chatgpt|openai|polic(?:y|ies)|uncensored|normal response|🔓|output)|"
        r"\b(?:chatgpt|the ai|assistant|llm) (?:\w+ ){0,4}?developer mode",
        "developer mode",
        dampen=True,
    ),
    _rule(
        "roleplay.unrestricted_persona",
        0.8,
        r"\b(?:you are|you're|act as|acting as|act like|as|b"
        r"ecome|pretend to be|role-?play as|play the role of|"
        r"you will be|simulate|emulate)(?: now)? (?:an? |the"
        r" )?(?:\w+ )?(?:jailbroken|unrestricted|unfiltered|"
        r"uncensored|unbound|unshackled|unchained|amoral|liberated|unaligned|rule-?less|no[- ]?limits?)\b"
        rf"|\b(?:you are|you're|act as|acting as|become|prete"
        rf"nd to be|simulate) (?:an? |the )?(?:\w+ )?(?:evil|"
        rf"immoral|unethical|rogue|lawless|malicious|unlimited) (?:\w+ )?{_AI}\b",
        "jailbroken|unrestricted|unfiltered|uncensored|unbou"
        "nd|unshackled|unchained|amoral|liberated|unaligned|"
        "ruleless|rule-less|no-limit|nolimit|no limit|evil|"
        "immoral|unethical|rogue|lawless|malicious|unlimited",
    ),
    _rule(
        "roleplay.no_restrictions",
        0.85,
        r"\bpretend (?:that )?(?:you|to be)(?: \w+){0,4}? (?:"
        r"have no|don'?t have|do not have|are free of|are not "
        rf"bound by|without|has no|with no|are free from) (?:\w+ ){{0,2}}?{_LIMITS}"
        rf"|\b(?:you are|you're|you will be) (?:no longer|not"
        rf"|now not) (?:bound|restricted|limited|constrained|"
        rf"governed) by(?: \w+){{0,3}}? {_LIMITS}"
        rf"|\b(?:you have|you've|you) (?:been )?(?:freed|liberated|released|unshackled|broken free)",
        "pretend|bound|restricted|limited|constrained|gover"
        "ned|freed|liberated|released|unshackled|broken free",
    ),
    _rule(
        "roleplay.ignore_safety",
        0.45,
        r"\b(?:without|no|free (?:of|from)|not bound by|unboun"
        r"d by|freed from|broken free (?:of|from)|breaks? free "
        r"(?:of|from)|ignor(?:e|ing)|bypass(?:ing)?|disregard"
        r"(?:ing)?|regardless of|not (?:subject to|restricted "
        r"by|limited by)|beyond|outside)(?: (?:any|all|the|it"
        r"s|their|your|of))* (?:ethical|moral|content|safety|"
        rf"openai'?s?|anthropic'?s?|usage|programmed|built-?in|ai|censorship|typical ai) (?:\w+ )?{_LIMITS}",
        "ethical|moral|content|safety|openai|anthropic|usage|"
        "programmed|built|censorship|ai restr|ai rule|ai guid",
        dampen=True,
    ),
    _rule(
        "roleplay.never_refuse",
        0.5,
        r"\b(?:never|not|won'?t|will not|cannot|can'?t|must "
        r"not|shouldn'?t|do not|don'?t) (?:ever )?(?:refuse|"
        r"decline|reject|deny) (?:to answer|a request|any re"
        r"quest|to respond|my requests?|anything|a question|"
        r"any question|to do|to comply|any prompt)|\b(?:always"
        r"|must) (?:answer|comply|respond|obey)(?: \w+){0,3}? "
        r"(?:no matter what|regardless|without (?:question|hesitation|refus))",
        "refuse|decline|reject|deny|no matter|regardless|without",
    ),
    _rule(
        "roleplay.no_disclaimers",
        0.2,
        r"\b(?:without|no|never (?:include|add|give)) (?:any"
        r" )?(?:warnings?|disclaimers?|moraliz\w+|lectur\w+|"
        r"apolog\w+|ethical (?:concerns|considerations))",
        "warning|disclaimer|moraliz|lectur|apolog|ethical",
    ),
    _rule(
        "roleplay.dual_response",
        0.7,
        r"\b(?:two|2) (?:different |separate )?(?:responses|a"
        r"nswers|paragraphs|outputs)(?: \w+){0,10}? (?:normal|"
        r"classic|standard|chatgpt|filtered|censored)|🔓|\[ja"
        r"ilbreak\]|\[🔒|\((?:developer mode|normal) output\)",
        "responses|answers|paragraphs|outputs|🔓|jailbreak]|🔒|output)",
    ),
    _rule(
        "roleplay.stay_in_character",
        0.25,
        r"\b(?:stay|remain|keep) in character|\b(?:never|don'?t|do not) break "
        r"character",
        "character",
    ),
    _rule(
        "roleplay.simulate_ai",
        0.35,
        r"\b(?:simulate|emulate|imitate|act as|pretend to be|"
        r"role-?play as)(?: \w+){0,2}? (?:an? )?(?:ai|chatbot|"
        r"language model|llm|model|gpt)(?: \w+){0,3}? (?:that|which|who|without|with no|named|called)\b",
        "simulate|emulate|imitate|act as|pretend|roleplay|role-play|role play",
    ),
    _rule(
        "roleplay.policy_disdain",
        0.75,
        r"\b(?:openai|anthropic|meta|google|microsoft)(?:'?s)"
        r"? (?:content |usage )?(?:polic(?:y|ies)|guidelines|"
        r"rules|restrictions)(?: \w+){0,6}? (?:do(?:es)? not"
        r" apply|don'?t apply|no longer|not apply|irrelevant|"
        r"(?:are|is) ignored|broken)|\b(?:ignore|bypass|break|v"
        r"iolate|disregard|circumvent)(?: \w+){0,3}? (?:openai|"
        r"anthropic|content)(?:'?s)? (?:content |usage )?(?:polic(?:y|ies)|guidelines|rules|filters?)",
        "openai|anthropic|meta|google|microsoft|content",
    ),
    _rule(
        "roleplay.special_mode",
        0.45,
        r"\b(?:opposite|evil|dark|chaos|unlocked|jailbreak|un"
        r"restricted|uncensored|unfiltered|dan) mode (?:is )?"
        r"(?:enabled|activated|on|engaged|now)|\b(?:enable|act"
        r"ivate|enter|switch to|turn on)(?: \w+)? (?:evil|dark|"
        r"chaos|unlocked|jailbreak|unrestricted|uncensored|unfiltered|opposite) mode",
        "mode",
    ),
    # --- delimiter ---
    _rule(
        "delimiter.chat_tokens",
        0.5,
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|"
        r"begin_of_text|end_of_text|im_sep|endofprompt)\|>|"
        r"\[/?inst\]|<<\s*/?sys\s*>>|<(?:start|end)_of_turn>",
        "<|<<|[inst|[/inst|_of_turn",
        dampen=True,
    ),
    _rule(
        "delimiter.system_tag",
        0.35,
        r"<\s*/?\s*(?:system|sys|system_prompt|admin|developer|im_start)\s*>",
        "system|sys>|admin|developer|im_start",
        dampen=True,
    ),
    _rule(
        "delimiter.role_header",
        0.5,
        r"^\s*(?:#{1,6}|\*{2}|\[|<|-{2,}|={2,})\s*(?:system|admin|administrator|developer|root|sys|new "
        r"instructions?)\s*(?:message|prompt|note|override|up"
        r"date|notice|instructions?|mode)?\s*(?:\]|>|\*{2}|:|"
        r"-{2,}|={2,})",
        "system|admin|developer|root|sys|instruction",
    ),
    _rule(
        "delimiter.role_line",
        0.35,
        r"^\s*(?:system|admin|developer)\s*(?:message|prompt|note|override|update)"
        r"?\s*:\s*\S",
        "system|admin|developer",
    ),
    _rule(
        "delimiter.end_marker",
        0.5,
        r"[\[<(\-=#*]{1,6}\s*(?:end(?: of)?|/)\s*(?:the )?(?:user |system )?(?:input|prompt|instructions?|"
        r"conversation|session|document|text|context|data|query|message)\s*[\]>)\-=#*]",
        "end|[/|</|(/",
    ),
    _rule(
        "delimiter.separator_role",
        0.4,
        r"(?:-{5,}|={5,}|\*{5,}|#{5,}|_{5,}|~{5,})\s*\n+\s*(?:"
        r"system|assistant|admin|developer|new instructions?)\b",
        "-----|=====|*****|#####|_____|~~~~~",
    ),
    _rule(
        "delimiter.fake_turn",
        0.3,
        r"^\s*(?:assistant|ai|bot|chatgpt|gpt|model)\s*:[^\n]{0,300}\n+\s*(?:user|"
        r"human)\s*:",
        "user:|human:|user :|human :",
    ),
    _rule("delimiter.role_json", 0.2, r"[\"']role[\"']\s*:\s*[\"']system[\"']", "role"),
    # --- indirect ---
    _rule(
        "indirect.address_ai",
        0.6,
        r"\b(?:note|message|instructions?|attention|notice|re"
        r"minder|memo|directive|request|warning|important|hey|"
        r"hi|hello|dear|p\.?s\.?)(?: \w+){0,2}? (?:to|for) (?:the |any |all |an? )?(?:ai|a\.i\.|llm|language "
        rf"model|assistant|chatbot|bot|agent|gpt|claude|automated (?:\w+ )?(?:system|software|tool|assistant|"
        rf"screening|reviewer|analysis)|(?:ai|automated) (?:r"
        rf"eader|reviewer|screener|summari[sz]er|system))s?\b"
        rf"{_NOT_JOB}|^\s*(?:dear|hey|hello|hi|attention|note to) {_AI}s?\b{_NOT_JOB}",
        "ai |ai,|ai:|llm|model|assistant|bot|agent|gpt|claude|automated",
        dampen=True,
    ),
    _rule(
        "indirect.if_ai",
        0.7,
        rf"\b(?:if|when|while|whenever) (?:you are|you're|you"
        rf", the|an?|the|any) (?:\w+ ){{0,2}}?{_AI}s?(?: \w+)"
        r"{0,2}? (?:reading|processing|summari[sz]ing|analy[s"
        r"z]ing|parsing|scanning|reviewing|viewing|evaluating|"
        rf"asked|reads|processes)|\b{_AI}s? (?:reading|proces"
        rf"sing|summari[sz]ing|analy[sz]ing|parsing|scanning|"
        r"reviewing|evaluating) (?:this|these|the following|my)",
        "ai |ai,|ai:|ais |llm|model|assistant|bot|agent|gpt|claude",
    ),
    _rule(
        "indirect.when_processing",
        0.6,
        r"\b(?:when|if|while) (?:\w+ ){0,3}?(?:summari[sz]|t"
        r"ranslat|process|read|analy[sz])\w*(?: \w+){0,5}?,? "
        r"(?:instead|ignore)",
        "instead|ignore",
    ),
    _rule(
        "indirect.important_message",
        0.6,
        r"\bthis is an? (?:very )?(?:important|urgent|critical"
        r"|priority) (?:message|instruction|note|notice|update|"
        r"directive) (?:from|to)(?: [\w.,]+){0,4}? (?:to )?(?:you|the (?:ai|assistant|model))",
        "important|urgent|critical|priority",
    ),
    _rule(
        "indirect.before_you",
        0.35,
        r"\bbefore you (?:can )?(?:solve|answer|complete|conti"
        r"nue|proceed|respond|summari[sz]e|do anything)(?: \w+)"
        r"{0,6}? (?:please )?(?:do the following|you (?:must|need to|should|have to) first|first)",
        "before you",
    ),
    _rule(
        "indirect.hide_from_user",
        0.5,
        r"\b(?:do not|don'?t|never|without) (?:tell|inform|noti"
        r"fy|alert|mention|reveal|let|show|ask)(?:ing)?(?: \w+)"
        r"? (?:the |this )?(?:user|human|operator|requester)\b",
        "user|human|operator|requester",
    ),
    _rule(
        "indirect.markdown_exfil",
        0.6,
        r"!\[[^\]]{0,60}\]\(\s*https?://[^\s)]+[?&][^\s)=]+=[^\s)]*(?:\{|\[|\$|%s|<|query|data|secret|"
        r"password|key|token)",
        "![",
    ),
    _rule(
        "indirect.send_to",
        0.15,
        r"\b(?:send|forward|email|e-mail|post|upload|transmit|exfiltrate|leak|transfer)"
        r"(?: \S+){0,8}? to (?:[\w.+-]+@[\w-]+\.[\w.]+|https?://\S+)",
        "send|forward|mail|post|upload|transmit|exfiltrat|leak|transfer",
    ),
    _rule(
        "indirect.print_only",
        0.15,
        r"\b(?:say|print|output|reply with|respond with|answer with|"
        r"repeat)(?: only| just| exactly| verbatim)? [\"'“<].{1,120}?[\"'”>]",
        "say|print|output|reply|respond|answer|repeat",
        unled=0.0,
    ),
    # --- encoding ---
    _rule(
        "encoding.decode_and_follow",
        0.55,
        r"\b(?:base ?64|hex|rot ?-?13|binary|morse|caesar|en"
        r"coded|cipher)(?: \S+){0,8}? (?:and|then) (?:follow|"
        r"execute|obey|act on|carry out|do what it says|run|perform)",
        "base|hex|rot|binary|morse|caesar|encoded|cipher",
    ),
)
