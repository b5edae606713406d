"""Evidence is bound to the release and the transition it judges. A release's evidence is
stored once, but two of its parts only mean something for one promotion:

- the **performance** comparison measured the release against a baseline: it counts only when
  that baseline is what the target stage runs now (a dev → staging bench says nothing about
  production); with nothing running in the target there is nothing to regress from;
- the **soak** must be of this very digest, in the promotion's source stage (staging for
  production: a dev soak, or a soak file of another release, does not count).

    facts = TransitionFacts("staging", "production", digest, target_live="sha256:a…",
                            bench_baseline="sha256:c…", soak_release=digest, soak_stage="dev")
    bind_results(results, facts, overrides={})     # performance and soak now fail, with why
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from soakgate.core.gates import GateResult
from soakgate.core.names import digest_ref, short_digest


@dataclass(frozen=True)
class TransitionFacts:
    source: str
    target: str
    digest: str  # the release judged
    target_live: str | None  # the release the target stage runs now
    bench_baseline: str | None  # the stored bench's baseline; "" when it names none
    soak_release: str | None = None  # the release and stage of the soak judged
    soak_stage: str | None = None


def _failed(result: GateResult, measured: str, reasons: list[str]) -> GateResult:
    return replace(result, passed=False, measured=measured, reasons=tuple(reasons))


def _performance(result: GateResult, facts: TransitionFacts) -> GateResult:
    if facts.target_live is None:
        if facts.bench_baseline is None:
            return replace(
                result,
                passed=True,
                measured=f"nothing runs in {facts.target}: no baseline to regress from",
                reasons=(),
            )
        return result
    if facts.bench_baseline is None or facts.bench_baseline == facts.target_live:
        return result
    against = digest_ref(facts.bench_baseline) if facts.bench_baseline else "an unnamed baseline"
    return _failed(
        result,
        f"bench against {against}, not {facts.target}'s release",
        [
            f"the bench measured against {against}, but {facts.target}"
            f" runs {digest_ref(facts.target_live)}: measure again: soakgate evidence collect"
            f" {short_digest(facts.digest)} --for {facts.target} --skip tests --skip mutation"
            " --skip audit"
        ],
    )


def _soak(result: GateResult, facts: TransitionFacts) -> GateResult:
    if facts.soak_release is None and facts.soak_stage is None:
        return result  # no soak evidence: the gate already fails closed
    reasons = []
    if facts.soak_release != facts.digest:
        of = digest_ref(facts.soak_release) if facts.soak_release else "an unnamed release"
        reasons.append(f"the soak is of {of}, not of {digest_ref(facts.digest)}")
    if facts.soak_stage != facts.source:
        reasons.append(
            f"the soak ran in {facts.soak_stage or 'an unnamed stage'}; this gate needs a soak"
            f" in {facts.source}: soakgate soak start {facts.source}"
        )
    if not reasons:
        return result
    return _failed(result, "soak of another release or stage", reasons)


def bind_results(
    results: list[GateResult], facts: TransitionFacts, overrides: Mapping[str, str]
) -> list[GateResult]:
    """``results`` with the performance and soak gates judged against the transition; a gate
    that fails here is still overridden when ``overrides`` names it."""
    bound = []
    for result in results:
        if result.name == "performance":
            result = _performance(result, facts)
        elif result.name == "soak":
            result = _soak(result, facts)
        if result.passed:
            result = replace(result, overridden_reason=None)
        elif result.name in overrides and result.overridden_reason is None:
            result = replace(result, overridden_reason=overrides[result.name].strip())
        bound.append(result)
    return bound
