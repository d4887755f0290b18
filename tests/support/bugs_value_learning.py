"""Plausible wrong implementations of the model-free value chapter, each one a bug people
write (several reported in public issue trackers, cited by repository and number).

Registered with ``@bug(check, name)``; ``tests/check_api/test_bug_catalogue.py`` asserts that every
check rejects each of its bugs with a counterexample.  Signatures are the canonical ones
(``rlspec list checks``).  Each bug is a small edit of a correct implementation, written
the way users write them (numpy, in place on a copy), so the edit is easy to see.
"""

from __future__ import annotations

import numpy as np

from bug_catalogue import bug


def _returns(rewards, gamma):
    out, following = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        following = rewards[t] + gamma * following
        out[t] = following
    return out


# ------------------------------------------------------------------ Monte Carlo

def _mc(values, counts, states, rewards, gamma, visits="first", divisor_shift=0,
        returns=None, count_once=False):
    values, counts = np.array(values, dtype=float), np.array(counts, dtype=float)
    returns = _returns(rewards, gamma) if returns is None else returns
    steps = range(len(rewards))
    if visits == "last":
        steps = reversed(steps)
    seen = set()
    for t in steps:
        s = int(states[t])
        if visits in ("first", "last") and s in seen:
            continue
        if not (count_once and s in seen):
            counts[s] += 1
        seen.add(s)
        values[s] += (returns[t] - values[s]) / (counts[s] + divisor_shift)
    return values


@bug("first-visit-mc", "every visit averaged in (ShangtongZhang/reinforcement-learning-an-"
                       "introduction#122: the 'unless S_t appears earlier' test left out)")
def mc_first_visit_as_every_visit(values, counts, states, rewards, gamma):
    return _mc(values, counts, states, rewards, gamma, visits="every")


@bug("first-visit-mc", "last visit instead of first: a backward loop that skips states it "
                       "has seen (rlcode/reinforcement-learning-kr#41)")
def mc_last_visit(values, counts, states, rewards, gamma):
    return _mc(values, counts, states, rewards, gamma, visits="last")


@bug("first-visit-mc", "incremental mean off by one: divides by N(s) + 1 after incrementing")
def mc_mean_off_by_one(values, counts, states, rewards, gamma):
    return _mc(values, counts, states, rewards, gamma, divisor_shift=1)


@bug("first-visit-mc", "returns summed forwards from the start (past rewards, not future; "
                       "mohmdelsayed/streaming-drl#3)")
def mc_returns_forwards(values, counts, states, rewards, gamma):
    past, running = np.zeros(len(rewards)), 0.0
    for t, reward in enumerate(rewards):
        running = reward + gamma * running
        past[t] = running
    return _mc(values, counts, states, rewards, gamma, returns=past)


@bug("every-visit-mc", "first visit only (the wrong one of the two)")
def mc_every_visit_as_first_visit(values, counts, states, rewards, gamma):
    return _mc(values, counts, states, rewards, gamma, visits="first")


@bug("every-visit-mc", "N(s) incremented once per episode, though every visit is averaged")
def mc_every_visit_counted_once(values, counts, states, rewards, gamma):
    return _mc(values, counts, states, rewards, gamma, visits="every", count_once=True)


# ------------------------------------------------------------------ one-step TD

@bug("td0-update", "bootstraps through a terminal state (no done mask; navneet-nmk/pytorch-rl#2)")
def td0_bootstraps_terminal(values, state, reward, next_state, terminated, alpha, gamma):
    values = np.array(values, dtype=float)
    values[state] += alpha * (reward + gamma * values[next_state] - values[state])
    return values


@bug("td0-update", "alpha applied twice: target = V + alpha delta, then V += alpha (target - V)")
def td0_alpha_twice(values, state, reward, next_state, terminated, alpha, gamma):
    values = np.array(values, dtype=float)
    delta = reward + gamma * (0.0 if terminated else values[next_state]) - values[state]
    target = values[state] + alpha * delta
    values[state] += alpha * (target - values[state])
    return values


@bug("td0-update", "discounts the reward too: gamma (r + V(s'))")
def td0_discounts_reward(values, state, reward, next_state, terminated, alpha, gamma):
    values = np.array(values, dtype=float)
    target = gamma * (reward + (0.0 if terminated else values[next_state]))
    values[state] += alpha * (target - values[state])
    return values


@bug("td0-update", "never bootstraps: the target is the reward alone")
def td0_never_bootstraps(values, state, reward, next_state, terminated, alpha, gamma):
    values = np.array(values, dtype=float)
    values[state] += alpha * (reward - values[state])
    return values


def _q_step(q, state, action, target, alpha):
    q = np.array(q, dtype=float)
    q[state, action] += alpha * (target - q[state, action])
    return q


@bug("sarsa-update", "bootstraps on max_a Q(s', a): Q-learning, not SARSA")
def sarsa_with_max(action_values, state, action, reward, next_state, next_action, terminated,
                   alpha, gamma):
    following = 0.0 if terminated else np.max(action_values[next_state])
    return _q_step(action_values, state, action, reward + gamma * following, alpha)


@bug("sarsa-update", "the notes' seed 003 '3-5' literally: Q += alpha [r + gamma Q(s', a')] "
                     "with no - Q(s, a)")
def sarsa_without_minus_q(action_values, state, action, reward, next_state, next_action,
                          terminated, alpha, gamma):
    q = np.array(action_values, dtype=float)
    following = 0.0 if terminated else q[next_state, next_action]
    q[state, action] += alpha * (reward + gamma * following)
    return q


@bug("sarsa-update", "bootstraps through a terminal state")
def sarsa_bootstraps_terminal(action_values, state, action, reward, next_state, next_action,
                              terminated, alpha, gamma):
    following = action_values[next_state, next_action]
    return _q_step(action_values, state, action, reward + gamma * following, alpha)


@bug("expected-sarsa-update", "averages the next action values uniformly, not under pi")
def expected_sarsa_uniform(action_values, state, action, reward, next_state, terminated, alpha,
                           gamma, policy):
    following = 0.0 if terminated else np.mean(action_values[next_state])
    return _q_step(action_values, state, action, reward + gamma * following, alpha)


@bug("expected-sarsa-update", "weights Q(s', .) by pi(.|s), the current state's policy")
def expected_sarsa_wrong_state_policy(action_values, state, action, reward, next_state,
                                      terminated, alpha, gamma, policy):
    following = 0.0 if terminated else policy[state] @ action_values[next_state]
    return _q_step(action_values, state, action, reward + gamma * following, alpha)


@bug("expected-sarsa-update", "bootstraps through a terminal state")
def expected_sarsa_bootstraps_terminal(action_values, state, action, reward, next_state,
                                       terminated, alpha, gamma, policy):
    following = policy[next_state] @ action_values[next_state]
    return _q_step(action_values, state, action, reward + gamma * following, alpha)


@bug("q-learning-update", "uses Q(s', a') with the behaviour's next action a': SARSA's target, "
                           "on-policy, not Q-learning")
def q_learning_sarsa_target(action_values, state, action, reward, next_state, next_action,
                            terminated, alpha, gamma):
    following = 0.0 if terminated else action_values[next_state, next_action]
    return _q_step(action_values, state, action, reward + gamma * following, alpha)


@bug("q-learning-update", "bootstraps on Q(s', a_t), the action just taken (a SARSA-like slip)")
def q_learning_same_action(action_values, state, action, reward, next_state, next_action,
                           terminated, alpha, gamma):
    following = 0.0 if terminated else action_values[next_state, action]
    return _q_step(action_values, state, action, reward + gamma * following, alpha)


@bug("q-learning-update", "max over the current state's row: max_a Q(s, a)")
def q_learning_max_of_current_state(action_values, state, action, reward, next_state,
                                    next_action, terminated, alpha, gamma):
    following = 0.0 if terminated else np.max(action_values[state])
    return _q_step(action_values, state, action, reward + gamma * following, alpha)


@bug("q-learning-update", "bootstraps through a terminal state (navneet-nmk/pytorch-rl#2)")
def q_learning_bootstraps_terminal(action_values, state, action, reward, next_state,
                                   next_action, terminated, alpha, gamma):
    following = np.max(action_values[next_state])
    return _q_step(action_values, state, action, reward + gamma * following, alpha)


# ------------------------------------------------------------------ n-step returns

def _n_step(rewards, state_values, terminated, gamma, n, power_shift=0, bootstrap_shift=0,
            fixed_power=False, ignore_terminal=False):
    steps = len(rewards)
    out = np.zeros(steps)
    for t in range(steps):
        horizon = min(t + n, steps)
        total = sum(gamma ** (k - t) * rewards[k] for k in range(t, horizon))
        if ignore_terminal or not (horizon == steps and terminated):
            power = n if fixed_power else horizon - t
            index = max(min(t + n, steps) - bootstrap_shift, t)
            total += gamma ** (power + power_shift) * state_values[index]
        out[t] = total
    return out


@bug("n-step-return", "gamma^n on the bootstrap even when the segment ends before t + n "
                      "(Curt-Park/rainbow-is-all-you-need#10)")
def n_step_fixed_power(rewards, state_values, terminated, gamma, n):
    return _n_step(rewards, state_values, terminated, gamma, n, fixed_power=True)


@bug("n-step-return", "one power of gamma short on the bootstrap: gamma^(n-1) V(S_(t+n))")
def n_step_power_off_by_one(rewards, state_values, terminated, gamma, n):
    return _n_step(rewards, state_values, terminated, gamma, n, power_shift=-1)


@bug("n-step-return", "bootstraps on V(S_(t+n-1)): the index range off by one")
def n_step_bootstrap_off_by_one(rewards, state_values, terminated, gamma, n):
    return _n_step(rewards, state_values, terminated, gamma, n, bootstrap_shift=1)


@bug("n-step-return", "the end of a truncated segment taken for termination: no bootstrap "
                      "from V(S_T) (openai/baselines#436, time limits treated as terminal)")
def n_step_truncation_as_termination(rewards, state_values, terminated, gamma, n):
    return _n_step(rewards, state_values, True, gamma, n)


@bug("n-step-return", "bootstraps through a terminal state at the end of the episode")
def n_step_bootstraps_terminal(rewards, state_values, terminated, gamma, n):
    return _n_step(rewards, state_values, terminated, gamma, n, ignore_terminal=True)


def _n_step_episode(table, states, actions, rewards, terminated, alpha, gamma, n,
                    bootstrap=None, flush_tail=True, ratio=None):
    table = np.array(table, dtype=float)
    is_q = table.ndim == 2
    steps = len(rewards)
    last_update = steps if flush_tail else max(steps - n + 1, 0)
    for t in range(last_update):
        horizon = min(t + n, steps)
        target = sum(gamma ** (k - t) * rewards[k] for k in range(t, horizon))
        if not (horizon == steps and terminated):
            if bootstrap is not None:
                following = bootstrap(table, horizon)
            else:
                following = table[states[horizon], actions[horizon]] if is_q else table[states[horizon]]
            target += gamma ** (horizon - t) * following
        weight = 1.0 if ratio is None else ratio(t, horizon)
        key = (states[t], actions[t]) if is_q else states[t]
        table[key] += alpha * weight * (target - table[key])
    return table


@bug("n-step-td", "the tail is never updated: the loop stops when t + n passes T, so the last "
                  "n - 1 states of an episode learn nothing")
def n_step_td_no_tail(values, states, rewards, terminated, alpha, gamma, n):
    return _n_step_episode(values, states, None, rewards, terminated, alpha, gamma, n,
                           flush_tail=False)


@bug("n-step-td", "bootstraps through a terminal state")
def n_step_td_bootstraps_terminal(values, states, rewards, terminated, alpha, gamma, n):
    return _n_step_episode(values, states, None, rewards, False, alpha, gamma, n)


@bug("n-step-sarsa", "bootstraps on max_a Q(S_(t+n), a), as in the notes' seed 003 '2-8'")
def n_step_sarsa_with_max(action_values, states, actions, rewards, terminated, alpha, gamma, n):
    return _n_step_episode(action_values, states, actions, rewards, terminated, alpha, gamma, n,
                           bootstrap=lambda q, h: np.max(q[states[h]]))


@bug("n-step-sarsa", "the tail is never updated")
def n_step_sarsa_no_tail(action_values, states, actions, rewards, terminated, alpha, gamma, n):
    return _n_step_episode(action_values, states, actions, rewards, terminated, alpha, gamma, n,
                           flush_tail=False)


@bug("n-step-sarsa", "bootstraps on the action of the step before: Q(S_h, A_(h-1))")
def n_step_sarsa_previous_action(action_values, states, actions, rewards, terminated, alpha,
                                 gamma, n):
    return _n_step_episode(action_values, states, actions, rewards, terminated, alpha, gamma, n,
                           bootstrap=lambda q, h: q[states[h], actions[h - 1]])


def _ratios(states, actions, target_policy, behaviour_policy, count):
    return [target_policy[states[k], actions[k]] / behaviour_policy[states[k], actions[k]]
            for k in range(count)]


@bug("off-policy-n-step-td", "ratio starts at A_(t+1), leaving out the action taken in S_t "
                             "(right for Q, wrong for V)")
def off_policy_td_skips_first_action(values, states, actions, rewards, terminated, alpha, gamma,
                                     n, target_policy, behaviour_policy):
    rho = _ratios(states, actions, target_policy, behaviour_policy, len(rewards))
    return _n_step_episode(values, states, None, rewards, terminated, alpha, gamma, n,
                           ratio=lambda t, h: float(np.prod(rho[t + 1:h])))


@bug("off-policy-n-step-td", "one ratio for the whole rest of the episode, not the n steps used")
def off_policy_td_whole_episode_ratio(values, states, actions, rewards, terminated, alpha, gamma,
                                      n, target_policy, behaviour_policy):
    rho = _ratios(states, actions, target_policy, behaviour_policy, len(rewards))
    return _n_step_episode(values, states, None, rewards, terminated, alpha, gamma, n,
                           ratio=lambda t, h: float(np.prod(rho[t:])))


def _sarsa_ratio(states, actions, rewards, terminated, target_policy, behaviour_policy, first,
                 last):
    rho = _ratios(states, actions, target_policy, behaviour_policy,
                  len(rewards) if terminated else len(rewards) + 1)
    steps = len(rewards)

    def ratio(t, h):
        end = h if not (h == steps and terminated) else h - 1
        return float(np.prod(rho[t + first:end + 1 + last]))
    return ratio


@bug("off-policy-n-step-sarsa", "ratio includes the action A_t that Q conditions on "
                                "(LyWangPX/Reinforcement-Learning-2nd-Edition-by-Sutton-"
                                "Exercise-Solutions#44)")
def off_policy_sarsa_includes_current_action(action_values, states, actions, rewards, terminated,
                                             alpha, gamma, n, target_policy, behaviour_policy):
    ratio = _sarsa_ratio(states, actions, rewards, terminated, target_policy, behaviour_policy,
                         first=0, last=0)
    return _n_step_episode(action_values, states, actions, rewards, terminated, alpha, gamma, n,
                           ratio=ratio)


@bug("off-policy-n-step-sarsa", "ratio stops at A_(h-1), leaving out the bootstrap action A_h")
def off_policy_sarsa_misses_bootstrap_action(action_values, states, actions, rewards, terminated,
                                             alpha, gamma, n, target_policy, behaviour_policy):
    steps = len(rewards)
    rho = _ratios(states, actions, target_policy, behaviour_policy, steps)
    return _n_step_episode(action_values, states, actions, rewards, terminated, alpha, gamma, n,
                           ratio=lambda t, h: float(np.prod(rho[t + 1:h])))


@bug("off-policy-n-step-sarsa", "no importance sampling at all: on-policy n-step SARSA on "
                                "behaviour data")
def off_policy_sarsa_without_ratios(action_values, states, actions, rewards, terminated, alpha,
                                    gamma, n, target_policy, behaviour_policy):
    return _n_step_episode(action_values, states, actions, rewards, terminated, alpha, gamma, n)


def _tree_backup(action_values, states, actions, rewards, terminated, alpha, gamma, n, policy,
                 include_taken=False, continuation_weight=True, ignore_terminal=False):
    q = np.array(action_values, dtype=float)
    steps = len(rewards)
    for t in range(steps):
        horizon = min(t + n, steps)
        if horizon == steps and terminated and not ignore_terminal:
            target = rewards[horizon - 1]
        else:
            target = rewards[horizon - 1] + gamma * policy[states[horizon]] @ q[states[horizon]]
        for k in reversed(range(t, horizon - 1)):
            s, a = states[k + 1], actions[k + 1]
            leaves = policy[s] @ q[s] - (0.0 if include_taken else policy[s, a] * q[s, a])
            weight = policy[s, a] if continuation_weight else 1.0
            target = rewards[k] + gamma * (leaves + weight * target)
        q[states[t], actions[t]] += alpha * (target - q[states[t], actions[t]])
    return q


@bug("tree-backup", "the taken action counted among the leaves as well (sum over all a)")
def tree_backup_taken_action_as_leaf(action_values, states, actions, rewards, terminated, alpha,
                                     gamma, n, policy):
    return _tree_backup(action_values, states, actions, rewards, terminated, alpha, gamma, n,
                        policy, include_taken=True)


@bug("tree-backup", "the sampled continuation weighted by 1 instead of pi(A_(k+1)|S_(k+1))")
def tree_backup_unweighted_continuation(action_values, states, actions, rewards, terminated,
                                        alpha, gamma, n, policy):
    return _tree_backup(action_values, states, actions, rewards, terminated, alpha, gamma, n,
                        policy, continuation_weight=False)


@bug("tree-backup", "bootstraps through a terminal state")
def tree_backup_bootstraps_terminal(action_values, states, actions, rewards, terminated, alpha,
                                    gamma, n, policy):
    return _tree_backup(action_values, states, actions, rewards, terminated, alpha, gamma, n,
                        policy, ignore_terminal=True)


# ------------------------------------------------------------------ lambda-returns

@bug("lambda-return", "the notes' forward view read literally: (1 - lambda) sum_n lambda^(n-1) "
                      "G^(n), which is 0 at lambda = 1")
def lambda_return_literal_infinite_sum(rewards, state_values, terminated, gamma, lam):
    steps = len(rewards)
    n_step = [_n_step(rewards, state_values, terminated, gamma, n) for n in range(1, steps + 1)]
    out = np.zeros(steps)
    for t in range(steps):
        # G^(n) = G^(T - t) for n >= T - t: the tail of the series sums in closed form,
        # (1 - lam) sum_{n >= T-t} lam^(n-1) = lam^(T-t-1) for lam < 1, and 0 at lam = 1.
        head = sum((1 - lam) * lam ** (n - 1) * n_step[n - 1][t] for n in range(1, steps - t))
        tail = 0.0 if lam == 1.0 else lam ** (steps - t - 1) * n_step[steps - t - 1][t]
        out[t] = head + tail
    return out


@bug("lambda-return", "recursion without the (1 - lambda): G = r + gamma (V' + lambda G')")
def lambda_return_missing_one_minus_lambda(rewards, state_values, terminated, gamma, lam):
    steps = len(rewards)
    out = np.zeros(steps)
    following = 0.0 if terminated else state_values[-1]
    next_value = following
    for t in reversed(range(steps)):
        following = rewards[t] + gamma * (next_value + lam * following)
        out[t] = following
        next_value = state_values[t]
    return out


@bug("lambda-return", "bootstraps through a terminal state")
def lambda_return_bootstraps_terminal(rewards, state_values, terminated, gamma, lam):
    steps = len(rewards)
    out = np.zeros(steps)
    following = next_value = state_values[-1]
    for t in reversed(range(steps)):
        following = rewards[t] + gamma * ((1 - lam) * next_value + lam * following)
        out[t] = following
        next_value = state_values[t]
    return out


# ------------------------------------------------------------------ TD(lambda)

def _td_lambda(values, states, rewards, terminated, alpha, gamma, lam, trace="accumulating",
               online=True, increment_after_update=False, zero_trace_at_terminal=False,
               trace_store=None, decay_others=True, decay=None):
    values = np.array(values, dtype=float)
    old = values.copy()
    if trace_store is not None:
        if trace_store.get("e") is None or trace_store["e"].shape != values.shape:
            trace_store["e"] = np.zeros_like(values)
        eligibility = trace_store["e"]
    else:
        eligibility = np.zeros_like(values)
    total = np.zeros_like(values)
    steps = len(rewards)
    for t in range(steps):
        current = values if online else old
        last = t == steps - 1
        following = 0.0 if (last and terminated) else current[states[t + 1]]
        delta = rewards[t] + gamma * following - current[states[t]]
        factor = gamma * lam if decay is None else decay
        if zero_trace_at_terminal and last and terminated:
            factor = 0.0  # decays with the discount of the transition *out*, 0 at the end
        if decay_others:
            eligibility *= factor
        if increment_after_update:
            values += alpha * delta * eligibility
        if trace == "accumulating":
            eligibility[states[t]] += 1.0
        else:
            eligibility[states[t]] = 1.0
        if not increment_after_update:
            if online:
                values += alpha * delta * eligibility
            else:
                total += alpha * delta * eligibility
    return values if online else old + total


@bug("td-lambda", "replacing traces where accumulating ones are asked for")
def td_lambda_replacing_for_accumulating(values, states, rewards, terminated, alpha, gamma, lam):
    return _td_lambda(values, states, rewards, terminated, alpha, gamma, lam, trace="replacing")


_LEAKY_TRACE: dict = {}


@bug("td-lambda", "the trace is not reset at the start of an episode: it lives on in the "
                  "agent between calls (mpatacchiola/dissecting-reinforcement-learning#22, "
                  "MJeremy2017/reinforcement-learning-implementation#4)")
def td_lambda_trace_not_reset(values, states, rewards, terminated, alpha, gamma, lam):
    return _td_lambda(values, states, rewards, terminated, alpha, gamma, lam,
                      trace_store=_LEAKY_TRACE)


@bug("td-lambda", "the value update comes before the current state's trace increment, so "
                  "S_t never gets its own delta_t")
def td_lambda_update_before_increment(values, states, rewards, terminated, alpha, gamma, lam):
    return _td_lambda(values, states, rewards, terminated, alpha, gamma, lam,
                      increment_after_update=True)


@bug("td-lambda", "the trace decays with the discount of the terminal transition (0) before "
                  "the last update, so the final reward credits S_(T-1) alone "
                  "(SlopDotCash/asi#2840)")
def td_lambda_trace_zeroed_at_terminal(values, states, rewards, terminated, alpha, gamma, lam):
    return _td_lambda(values, states, rewards, terminated, alpha, gamma, lam,
                      zero_trace_at_terminal=True)


@bug("td-lambda-replacing", "accumulating traces where replacing ones are asked for")
def td_lambda_accumulating_for_replacing(values, states, rewards, terminated, alpha, gamma, lam):
    return _td_lambda(values, states, rewards, terminated, alpha, gamma, lam)


@bug("td-lambda-replacing", "replacing traces that forget to decay the other states")
def td_lambda_replacing_without_decay(values, states, rewards, terminated, alpha, gamma, lam):
    return _td_lambda(values, states, rewards, terminated, alpha, gamma, lam, trace="replacing",
                      decay=1.0)


@bug("offline-td-lambda", "online updates where the offline algorithm is asked for (every "
                          "delta from the latest values)")
def offline_td_lambda_online(values, states, rewards, terminated, alpha, gamma, lam):
    return _td_lambda(values, states, rewards, terminated, alpha, gamma, lam)


@bug("offline-td-lambda", "replacing traces: offline, they do not reproduce the forward view")
def offline_td_lambda_replacing(values, states, rewards, terminated, alpha, gamma, lam):
    return _td_lambda(values, states, rewards, terminated, alpha, gamma, lam, trace="replacing",
                      online=False)


@bug("offline-td-lambda", "trace decayed by gamma alone, not gamma lambda")
def offline_td_lambda_decay_gamma_only(values, states, rewards, terminated, alpha, gamma, lam):
    return _td_lambda(values, states, rewards, terminated, alpha, gamma, lam, online=False,
                      decay=gamma)
