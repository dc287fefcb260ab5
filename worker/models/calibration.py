"""The fixed texts that calibrate static int8 quantization (`--backend openvino --precision int8`).

Static quantization fixes each activation's int8 range ahead of time from what the model sees
on calibration inputs, so those inputs must look like a job's: ordinary prose on everyday,
news, product and technical topics, questions, and lengths from a few tokens to a few hundred,
both as single texts and as text pairs (question and context, premise and hypothesis). The
set is built from the sentences below by a seeded generator: the same texts, and so the same
int8 model, on every machine and every run. It is small (a few dozen samples) because NNCF's
range estimates settle quickly and calibration runs once, at the first int8 load.
"""

from __future__ import annotations

import random

_SENTENCES = (
    "The hotel room was clean, quiet and much larger than the photos suggested.",
    "I waited forty minutes on the phone before anyone answered my question.",
    "The battery lasts two days with normal use, which is better than my last phone.",
    "Honestly, the sequel is slower than the first film but the ending makes up for it.",
    "Shipping was fast, yet the box arrived crushed and one of the cups was broken.",
    "The city council voted on Tuesday to extend the night bus service until 2 a.m.",
    "Shares of the company fell 4% after it cut its forecast for the third quarter.",
    "Researchers in Oslo found that the new vaccine reduced hospital stays by a third.",
    "Heavy rain is expected across the north of the country over the weekend.",
    "Maria Lopez joined Siemens in Munich as head of research in March 2021.",
    "The museum on Rue de Rivoli reopens next month after a two-year renovation.",
    "Who wrote the report, and when was it sent to the board?",
    "What is the difference between a virus and a bacterium?",
    "How long does it take to drive from Boston to New York?",
    "To reset the router, hold the button on the back for ten seconds until the light blinks.",
    "The function returns None when the file is missing instead of raising an error.",
    "Install the package, set the environment variable, then restart the service.",
    "Mix the flour and butter, add a pinch of salt, and bake for twenty-five minutes.",
    "Our support team answers emails within one business day, except on public holidays.",
    "The patient reported mild headaches and trouble sleeping for the past two weeks.",
    "It's not bad at all!!! Would buy again :)",
    "Terrible. Just terrible. Never again.",
    "The contract may be terminated by either party with thirty days' written notice.",
    "Temperatures dropped below freezing and several flights from Chicago were delayed.",
    "She finished the marathon in under four hours, her best time in a decade.",
    "The new update fixed the crash on start-up but the app still drains the battery.",
    "After the merger, the two banks will close about 120 branches in rural areas.",
    "The lecture covered photosynthesis, cell division and the structure of DNA.",
    "Prices at the farmers' market have risen sharply since last summer.",
    "The guide spoke English, French and a little Japanese, and was very patient with us.",
)
#: Samples drawn; enough for NNCF's estimates of each activation's range.
SAMPLES = 64
SEED = 20240601


def calibration_samples(
    samples: int = SAMPLES, seed: int = SEED
) -> list[tuple[str, str | None]]:
    """(text, second text or None) pairs: the same list for the same arguments.

    A third of the samples are pairs, for models that read two segments (QA, NLI, cross-
    encoders); the texts' lengths run from one sentence to about twenty (roughly 400 tokens).
    """
    rng = random.Random(seed)
    out: list[tuple[str, str | None]] = []
    for i in range(samples):
        n = rng.choice((1, 1, 2, 3, 5, 8, 12, 20))
        text = " ".join(rng.choice(_SENTENCES) for _ in range(n))
        if i % 3 == 2:
            out.append((rng.choice(_SENTENCES), text))
        else:
            out.append((text, None))
    return out
