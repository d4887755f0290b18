"""The batteries of the preference-learning chapter (issue 5a): reward models, the
KL-regularised optimum, DPO and its variants, KL estimators, sequence log-probabilities.

Each judge calls only ``rlspec.oracles`` (exact rationals and 50-digit mpmath, closed-form
derivatives, sums over every response of the enumerable language model).

**Losses are judged with their gradients.**  For the loss checks the candidate receives
float64 torch tensors: the arguments it should differentiate with respect to (the policy's
log-probabilities, or both rewards of the reward-model loss) are fresh leaves with
``requires_grad=True``, the frozen reference log-probabilities are plain tensors.  It must
return a torch scalar (a per-sample tensor for the KL estimators) that is connected to those
leaves; the judge compares the value and ``torch.autograd.grad`` of it with the oracle's.  A
candidate that returns ``loss.item()`` or computes under ``torch.no_grad()`` is reported:
the check cannot see its gradient, and a detached loss trains nothing.

The other checks (tables in, tables out) receive numpy float64 arrays.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from rlspec.checks.batteries import register
from rlspec.checks.core import Case, Mismatch, compare, exact_gradient, judge_loss
from rlspec.oracles import dpo as lm_oracle
from rlspec.oracles import dpo as dpo_oracle, kl_estimators, reward_model
from rlspec.toy_mdps import language_model as toy

# --------------------------------------------------------------------------- helpers

def _vector(values) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def _quarters(low: int, high: int):
    """Multiples of 1/4 in [low, high]: exact in binary, readable when shrunk."""
    return st.integers(4 * low, 4 * high).map(lambda k: k / 4.0)


def _judge_value_and_gradient(case, call, tolerance, differentiable, expected_value,
                              expected_gradients, shape=(), frozen=()):
    """Judge a loss whose gradient is smooth (NaN in ``expected_gradients`` marks a kink,
    where any subgradient is accepted)."""
    got = call.loss(case.arguments, differentiate=differentiable, frozen=frozen, shape=shape)
    bounds = {name: exact_gradient(expected_gradients[name]) for name in differentiable}
    return judge_loss(got, expected_value, bounds, tolerance)


# --------------------------------------------------------------------------- reward model

def _judge_reward_model_loss(case, call, tolerance):
    a = case.arguments
    value, grad_chosen, grad_rejected = reward_model.bradley_terry_loss_and_gradient(
        a["chosen_rewards"], a["rejected_rewards"])
    return _judge_value_and_gradient(
        case, call, tolerance, ("chosen_rewards", "rejected_rewards"), value,
        {"chosen_rewards": grad_chosen, "rejected_rewards": grad_rejected})


@st.composite
def _reward_pair_cases(draw):
    n = draw(st.integers(1, 4))
    scale = draw(st.sampled_from([8, 800]))   # 800: margins where log(sigmoid) underflows
    chosen = _vector(draw(st.lists(_quarters(-scale, scale), min_size=n, max_size=n)))
    rejected = _vector(draw(st.lists(_quarters(-scale, scale), min_size=n, max_size=n)))
    return Case("generated", {"chosen_rewards": chosen, "rejected_rewards": rejected})


def _reward_pair_edges():
    return [
        Case("equal rewards: loss log 2", {"chosen_rewards": _vector([0.0]),
                                           "rejected_rewards": _vector([0.0])}),
        Case("two pairs with different margins (mean, not sum)",
             {"chosen_rewards": _vector([1.0, 0.0]), "rejected_rewards": _vector([0.0, 2.0])}),
        Case("margin -1000: log(sigmoid) underflows, the loss is 1000",
             {"chosen_rewards": _vector([-1000.0]), "rejected_rewards": _vector([0.0])}),
        Case("margin +1000: the loss is e^-1000, not -0.0 after a NaN",
             {"chosen_rewards": _vector([1000.0, 0.0]), "rejected_rewards": _vector([0.0, 0.0])}),
    ]


def _judge_reward_model_fit(case, call, tolerance):
    weights = case.arguments["pair_weights"]
    expected = reward_model.reward_from_pair_weights(weights)
    got = call(case.arguments, expected.shape)
    # Rewards are identified up to a constant per prompt: compare differences to response 0.
    found = compare(expected, got - got[:, :1], tolerance)
    if found:
        return Mismatch("rewards differ from the true reward (after subtracting each prompt's "
                        "reward of response 0, the constant the preferences cannot see): "
                        + found.message, found.expected, found.got, found.tolerance)
    return None


@st.composite
def _reward_fit_cases(draw):
    model = draw(toy.language_models(max_prompts=2, max_vocabulary=3, max_length=2))
    rewards = draw(toy.reward_tables(model))
    weights = toy.preference_pair_distribution(model, rewards)
    return Case("generated", {"pair_weights": weights},
                {"reference": model, "rewards": rewards})


def _reward_fit_edges():
    flat = toy.LanguageModel(np.zeros((1, 1, 2)), max_length=1)     # responses (EOS,), (1,)
    wide = toy.LanguageModel(np.array([[[1.0, -1.0]], [[0.0, 0.0]]]), max_length=1)
    return [
        Case("equal rewards: every preference a coin flip",
             {"pair_weights": toy.preference_pair_distribution(flat, np.zeros((1, 2)))}),
        Case("one response better by 2",
             {"pair_weights": toy.preference_pair_distribution(flat, np.array([[2.0, 0.0]]))}),
        Case("two prompts, opposite preferences, a lopsided reference model",
             {"pair_weights": toy.preference_pair_distribution(
                 wide, np.array([[-1.0, 1.0], [3.0, 0.0]]))}),
    ]


# --------------------------------------------------------------------------- the optimum

def _judge_optimum(case, call, tolerance):
    model, rewards = case.context["reference"], case.arguments["rewards"]
    expected, _ = lm_oracle.optimal_policy_by_soft_bellman(model, rewards, case.arguments["beta"])
    return compare(expected, call(case.arguments, expected.shape), tolerance)


def _optimum_case(label, model, rewards, beta):
    rewards = np.asarray(rewards, dtype=np.float64)
    return Case(label, {"reference_log_probs": model.response_log_probs(), "rewards": rewards,
                        "beta": beta}, {"reference": model})


@st.composite
def _optimum_cases(draw):
    model = draw(toy.language_models())
    rewards = draw(toy.reward_tables(model))
    beta = draw(st.sampled_from([1.0, 0.5, 0.1, 2.0, 1.0 / 512]))
    return _optimum_case("generated", model, rewards, beta)


def _optimum_edges():
    fair = toy.LanguageModel(np.zeros((1, 1, 2)), max_length=1)
    tree = toy.LanguageModel(np.array([[[0.0, 1.0], [0.5, -0.5]], [[1.0, 0.0], [0.0, 0.0]]]),
                             max_length=2)
    return [
        _optimum_case("pi_ref = (1/2, 1/2), r = (log 3, 0), beta = 1: pi* = (3/4, 1/4)", fair,
                      [[math.log(3.0), 0.0]], 1.0),
        _optimum_case("equal rewards: pi* = pi_ref", tree, np.ones((2, 3)), 0.5),
        _optimum_case("beta = 1/512: r / beta = 1024 overflows a naive exp", tree,
                      [[2.0, 0.0, 1.0], [0.0, 2.0, -2.0]], 1.0 / 512),
        _optimum_case("two prompts, normalised separately", tree,
                      [[1.0, 0.0, 0.0], [0.0, 0.0, 3.0]], 1.0),
    ]


# --------------------------------------------------------------------------- DPO family

PAIR_ARGUMENTS = ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps",
                  "reference_rejected_logps")
POLICY = ("policy_chosen_logps", "policy_rejected_logps")


def _pair_case(label, chosen, rejected, reference_chosen, reference_rejected, beta, **extra):
    arguments = dict(zip(PAIR_ARGUMENTS, map(_vector, (chosen, rejected, reference_chosen,
                                                        reference_rejected))))
    return Case(label, {**arguments, "beta": beta, **extra})


def _judge_pairwise(variant):
    def judge(case, call, tolerance):
        a = case.arguments
        value, grad_chosen, grad_rejected, _ = dpo_oracle.preference_loss_and_gradient(
            *(a[name] for name in PAIR_ARGUMENTS), a["beta"], variant=variant,
            label_smoothing=a.get("label_smoothing", 0.0))
        return _judge_value_and_gradient(
            case, call, tolerance, POLICY, value,
            {"policy_chosen_logps": grad_chosen, "policy_rejected_logps": grad_rejected},
            frozen=("reference_chosen_logps", "reference_rejected_logps"))
    return judge


BETAS = (0.5, 0.1, 1.0, 2.0, 0.01)


@st.composite
def _pair_cases(draw, label_smoothing: bool = False):
    n = draw(st.integers(1, 4))
    depth = draw(st.sampled_from([20, 2000]))    # 2000: |beta h| up to ~1e3
    columns = [_vector(draw(st.lists(_quarters(-depth, 0), min_size=n, max_size=n)))
               for _ in PAIR_ARGUMENTS]
    extra = {"label_smoothing": draw(st.sampled_from([0.1, 0.0, 0.25, 0.5]))} \
        if label_smoothing else {}
    return Case("generated", {**dict(zip(PAIR_ARGUMENTS, columns)),
                              "beta": draw(st.sampled_from(BETAS)), **extra})


def _pair_edges(**extra):
    return [
        _pair_case("pi = pi_ref: h = 0", [-1.0], [-2.0], [-1.0], [-2.0], 0.5, **extra),
        _pair_case("chosen more likely than under pi_ref", [-1.0], [-3.0], [-2.0], [-2.0], 0.5,
                   **extra),
        _pair_case("two pairs, different margins (mean, not sum)", [-1.0, -4.0], [-2.0, -1.0],
                   [-1.5, -2.0], [-2.0, -2.0], 0.5, **extra),
        _pair_case("beta h = -1000: log(sigmoid) underflows", [-1001.0], [-1.0], [-1.0], [-1.0],
                   1.0, **extra),
        _pair_case("beta h = +1000", [-1.0], [-1001.0], [-1.0], [-1.0], 1.0, **extra),
    ]


def _judge_implicit_reward(case, call, tolerance):
    a = case.arguments
    expected = dpo_oracle.implicit_reward_exact(a["policy_log_probs"], a["reference_log_probs"],
                                            a["beta"])
    return compare(expected, call(a, expected.shape), tolerance)


@st.composite
def _implicit_reward_cases(draw):
    n = draw(st.integers(1, 4))
    policy = _vector(draw(st.lists(_quarters(-20, 0), min_size=n, max_size=n)))
    reference = _vector(draw(st.lists(_quarters(-20, 0), min_size=n, max_size=n)))
    return Case("generated", {"policy_log_probs": policy, "reference_log_probs": reference,
                              "beta": draw(st.sampled_from(BETAS))})


# --------------------------------------------------------------------------- KL estimators

def _judge_estimator(estimator):
    def judge(case, call, tolerance):
        a = case.arguments
        values, slopes = kl_estimators.kl_estimates_and_slopes(a["log_probs"], a["reference_log_probs"],
                                                        estimator)
        return _judge_value_and_gradient(case, call, tolerance, ("log_probs",), values,
                                         {"log_probs": slopes}, shape=values.shape,
                                         frozen=("reference_log_probs",))
    return judge


@st.composite
def _estimator_cases(draw):
    n = draw(st.integers(1, 4))
    policy = _vector(draw(st.lists(_quarters(-8, 0), min_size=n, max_size=n)))
    reference = _vector(draw(st.lists(_quarters(-8, 0), min_size=n, max_size=n)))
    return Case("generated", {"log_probs": policy, "reference_log_probs": reference})


def _estimator_edges():
    half, quarter = math.log(0.5), math.log(0.25)
    return [
        Case("pi(x) = 1/2, pi_ref(x) = 1/4 (r = 1/2)",
             {"log_probs": _vector([half]), "reference_log_probs": _vector([quarter])}),
        Case("pi_ref(x) > pi(x): k1 is negative here",
             {"log_probs": _vector([quarter, half]), "reference_log_probs": _vector([half, half])}),
        Case("log r = +-12: r - 1 is about 1.6e5", {"log_probs": _vector([-12.0, 0.0]),
                                                   "reference_log_probs": _vector([0.0, -12.0])}),
    ]


def _judge_kl_divergence(case, call, tolerance):
    a = case.arguments
    expected = kl_estimators.categorical_kl(a["log_probs"], a["reference_log_probs"])
    return compare(expected, call(a, ()), tolerance)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - math.log(float(np.exp(shifted).sum()))


@st.composite
def _categorical_pairs(draw, as_logits: bool = False):
    k = draw(st.integers(2, 4))
    logits = _vector(draw(st.lists(_quarters(-2, 2), min_size=k, max_size=k)))
    reference = _vector(draw(st.lists(_quarters(-2, 2), min_size=k, max_size=k)))
    if as_logits:
        return {"logits": logits, "reference_logits": reference}
    return {"log_probs": _log_softmax(logits), "reference_log_probs": _log_softmax(reference)}


def _kl_divergence_cases():
    return _categorical_pairs().map(lambda arguments: Case("generated", arguments))


def _kl_divergence_edges():
    return [
        Case("pi = (1/2, 1/2), pi_ref = (1/4, 3/4)",
             {"log_probs": np.log([0.5, 0.5]), "reference_log_probs": np.log([0.25, 0.75])}),
        Case("pi = pi_ref: KL = 0", {"log_probs": np.log([0.25, 0.75]),
                                     "reference_log_probs": np.log([0.25, 0.75])}),
    ]


def _judge_loss_gradient(case, call, tolerance):
    a = case.arguments
    expected = kl_estimators.estimator_loss_gradient_closed_form(a["logits"], a["reference_logits"],
                                                          a["estimator"])
    return compare(expected, call(a, expected.shape), tolerance)


@st.composite
def _loss_gradient_cases(draw):
    arguments = draw(_categorical_pairs(as_logits=True))
    return Case("generated", {**arguments, "estimator": draw(st.sampled_from(["k1", "k2", "k3"]))})


def _loss_gradient_edges():
    logits, reference = _vector([0.0, 0.0]), np.log([0.25, 0.75])
    cases = [Case(f"{k}: pi = (1/2, 1/2), pi_ref = (1/4, 3/4)",
                  {"logits": logits, "reference_logits": reference, "estimator": k})
             for k in ("k1", "k2", "k3")]
    # A spread of 800 in either argument: a softmax or log-sum-exp without the max shift (or
    # shifted by the min) overflows, and k3's ratio pi_ref / pi = e^800 overflows unless it
    # is formed from the log-ratio where it is multiplied by a vanishing probability.
    for name, extreme in (("logits", "reference_logits"), ("reference_logits", "logits")):
        for spread in (800.0, -800.0):
            for k in ("k2", "k3"):
                cases.append(Case(
                    f"{k}: {name} [{spread:g}, 0], {extreme} [0, 0]: a softmax without the max "
                    f"shift overflows",
                    {"logits": _vector([0.0, 0.0]), "reference_logits": _vector([0.0, 0.0]),
                     "estimator": k} | {name: _vector([spread, 0.0])}))
    return cases


# --------------------------------------------------------------------------- sequence log-probs

def _judge_sequence_log_probs(case, call, tolerance):
    a = case.arguments
    expected = lm_oracle.sequence_log_probs(a["logits"], a["tokens"], a["mask"])
    return compare(expected, call(a, expected.shape), tolerance)


def _sequence_case(label, logits, responses, max_length):
    tokens, mask = toy.pad_responses(responses, max_length)
    return Case(label, {"logits": np.asarray(logits, dtype=np.float64), "tokens": tokens,
                        "mask": mask})


@st.composite
def _sequence_cases(draw):
    vocabulary = draw(st.integers(2, 3))
    length = draw(st.integers(1, 3))
    responses = toy.enumerate_responses(vocabulary, length)
    n = draw(st.integers(1, 3))
    chosen = [responses[i] for i in draw(st.lists(st.integers(0, len(responses) - 1),
                                                  min_size=n, max_size=n))]
    logits = draw(st.lists(_quarters(-3, 3), min_size=n * length * vocabulary,
                           max_size=n * length * vocabulary))
    return _sequence_case("generated", np.reshape(logits, (n, length, vocabulary)), chosen, length)


def _sequence_edges():
    ramp = np.array([[[0.0, 1.0, 2.0], [1.0, 0.0, -1.0], [0.5, 0.5, 0.0]]] * 2)
    return [
        _sequence_case("a response ending in EOS, padded with EOS (pad = EOS)", ramp,
                       [(1, 0), (2, 1, 0)], 3),
        _sequence_case("a truncated response and a bare EOS", ramp, [(2, 2, 1), (0,)], 3),
        _sequence_case("logits [800, 0], token 1: a log-softmax without the max shift, or "
                       "shifted by the min, overflows", [[[800.0, 0.0]]], [(1,)], 1),
        _sequence_case("logits [-800, 0], token 1: the same spread in the other direction",
                       [[[-800.0, 0.0]]], [(1,)], 1),
        _sequence_case("logits [800, 0] beside rows and positions of [0, 0]: a shift by another "
                       "row's or position's max underflows to log 0",
                       [[[800.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]], [(1, 0), (1, 0)], 2),
    ]


# --------------------------------------------------------------------------- registration

_LOSS_NOTE = ("torch float64 tensors in; return a differentiable torch scalar (mean over the "
              "N pairs); value and gradient w.r.t. the policy log-probs are judged")
_PAIR_SIGNATURE = ("candidate(policy_chosen_logps[N], policy_rejected_logps[N], "
                   "reference_chosen_logps[N], reference_rejected_logps[N], beta{extra}) -> loss; "
                   + _LOSS_NOTE)

register(
    name="reward-model-loss", spec_id="rm.bradley-terry-loss",
    summary="the Bradley-Terry reward-model loss mean -log sigmoid(r_w - r_l), value and gradient",
    signature="candidate(chosen_rewards[N], rejected_rewards[N]) -> loss; torch float64 tensors "
              "in (both require grad); return a differentiable torch scalar, the mean over pairs",
    judge=_judge_reward_model_loss, make_generated=_reward_pair_cases,
    make_edge_cases=_reward_pair_edges,
)
register(
    name="reward-model-fit", spec_id="rm.population-minimiser",
    summary="the tabular reward minimising the population Bradley-Terry loss, up to a constant "
            "per prompt",
    signature="candidate(pair_weights[prompt, i, j]) -> rewards[prompt, response]; "
              "pair_weights[x, i, j] = probability of the datum (x, y_w = i, y_l = j); judged "
              "up to a constant per prompt",
    judge=_judge_reward_model_fit, make_generated=_reward_fit_cases,
    make_edge_cases=_reward_fit_edges,
)
register(
    name="kl-regularised-optimum", spec_id="dpo.kl-regularised-optimum",
    summary="pi*(y|x) = pi_ref(y|x) exp(r(x, y) / beta) / Z(x) over whole responses",
    signature="candidate(reference_log_probs[prompt, response], rewards[prompt, response], beta) "
              "-> probabilities[prompt, response]",
    judge=_judge_optimum, make_generated=_optimum_cases, make_edge_cases=_optimum_edges,
)
register(
    name="dpo-loss", spec_id="dpo.loss",
    summary="the DPO loss mean -log sigmoid(beta h), value and gradient",
    signature=_PAIR_SIGNATURE.format(extra=""),
    judge=_judge_pairwise("dpo"), make_generated=_pair_cases, make_edge_cases=_pair_edges,
)
register(
    name="ipo-loss", spec_id="dpo.ipo",
    summary="the IPO loss mean (h - 1/(2 beta))^2 (Azar et al. 2023, Eq. 17, tau = beta)",
    signature=_PAIR_SIGNATURE.format(extra=""),
    judge=_judge_pairwise("ipo"), make_generated=_pair_cases, make_edge_cases=_pair_edges,
)
register(
    name="hinge-dpo-loss", spec_id="dpo.hinge",
    summary="the hinge loss mean max(0, 1 - beta h) (SLiC-HF); any subgradient at the kink",
    signature=_PAIR_SIGNATURE.format(extra=""),
    judge=_judge_pairwise("hinge"), make_generated=_pair_cases, make_edge_cases=_pair_edges,
)
register(
    name="conservative-dpo-loss", spec_id="dpo.label-smoothing",
    summary="conservative DPO: mean -(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h)",
    signature=_PAIR_SIGNATURE.format(extra=", label_smoothing"),
    judge=_judge_pairwise("dpo"), make_generated=lambda: _pair_cases(label_smoothing=True),
    make_edge_cases=lambda: [*_pair_edges(label_smoothing=0.1),
                             _pair_case("eps = 1/2: no preference", [-1.0], [-3.0], [-2.0],
                                        [-2.0], 0.5, label_smoothing=0.5)],
)
register(
    name="dpo-implicit-reward", spec_id="dpo.implicit-reward",
    summary="r_hat(x, y) = beta log(pi(y|x) / pi_ref(y|x)), the same formula for y_w and y_l",
    signature="candidate(policy_log_probs[N], reference_log_probs[N], beta) -> rewards[N]",
    judge=_judge_implicit_reward, make_generated=_implicit_reward_cases,
    make_edge_cases=lambda: [Case("pi = 1/2, pi_ref = 1/4, beta = 1/2",
                                  {"policy_log_probs": _vector([math.log(0.5), -1.0]),
                                   "reference_log_probs": _vector([math.log(0.25), -3.0]),
                                   "beta": 0.5})],
)
_ESTIMATOR_SIGNATURE = ("candidate(log_probs[N], reference_log_probs[N]) -> estimates[N]; "
                        "x ~ pi, log_probs = log pi(x) (requires grad), reference_log_probs = "
                        "log pi_ref(x); torch float64 in, a differentiable per-sample torch "
                        "tensor out; values and d/d log_probs are judged")
for _name, _id, _formula in (("kl-k1", "kl.k1", "k1 = -log r = log pi - log pi_ref"),
                             ("kl-k2", "kl.k2", "k2 = (log r)^2 / 2"),
                             ("kl-k3", "kl.k3", "k3 = (r - 1) - log r, r = pi_ref / pi")):
    register(
        name=_name, spec_id=_id, summary=f"the per-sample KL estimator {_formula}, value and gradient",
        signature=_ESTIMATOR_SIGNATURE,
        judge=_judge_estimator(_name[-2:]), make_generated=_estimator_cases,
        make_edge_cases=_estimator_edges,
    )
register(
    name="kl-divergence", spec_id="kl.estimator-bias",
    summary="KL(pi || pi_ref) of two categoricals, exactly (what k1 and k3 estimate)",
    signature="candidate(log_probs[K], reference_log_probs[K]) -> KL(pi || pi_ref)",
    judge=_judge_kl_divergence, make_generated=_kl_divergence_cases,
    make_edge_cases=_kl_divergence_edges,
)
register(
    name="kl-estimator-loss-gradient", spec_id="kl.estimator-loss-gradient",
    summary="E_{x~pi}[grad k(x)] with the sample fixed, pi = softmax(logits): 0, grad KL(pi||ref), "
            "grad KL(ref||pi) for k1, k2, k3",
    signature="candidate(logits[K], reference_logits[K], estimator in {'k1','k2','k3'}) "
              "-> gradient[K]",
    judge=_judge_loss_gradient, make_generated=_loss_gradient_cases,
    make_edge_cases=_loss_gradient_edges,
)
register(
    name="sequence-log-probs", spec_id="lm.sequence-log-prob",
    summary="log pi(y|x) of padded responses: the masked sum of token log-probs (EOS included)",
    signature="candidate(logits[N, L, V], tokens[N, L], mask[N, L]) -> log_probs[N]; logits[n, t] "
              "is the distribution tokens[n, t] was drawn from (already aligned, no shift); "
              "mask is 1 on response tokens including EOS, 0 on padding (pad id = EOS = 0)",
    judge=_judge_sequence_log_probs, make_generated=_sequence_cases,
    make_edge_cases=_sequence_edges,
)
