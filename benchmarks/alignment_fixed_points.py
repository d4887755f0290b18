"""Exact fixed points of the alignment trainers' expected updates, against pi*.

Prints E_x KL(pi_fix || pi*) for GRPO-style updates (k3 in the loss) under each advantage
and aggregation, on the default toy problem (L = 2) and on one with L = 3, where responses
through the same state differ in length.  The figures of spec/audit/alignment-fixed-points.md.
"""

import time

import torch

from rlspec.agents.alignment import exact
from rlspec.agents.alignment.grpo_fixed_point import ADVANTAGES, AGGREGATIONS, grpo_fixed_point
from rlspec.agents.alignment.toy_problem import make_toy_problem

torch.set_num_threads(1)
BETA, GROUP = 0.5, 4

for label, problem in [("L=2, V=3, 2 prompts", make_toy_problem()),
                       ("L=3, V=2, 2 prompts", make_toy_problem(vocabulary_size=2, max_length=3))]:
    star = exact.kl_regularised_optimum(problem.reference, problem.rewards, BETA)
    scaled = exact.kl_regularised_optimum(problem.reference, problem.rewards * (GROUP - 1) / GROUP, BETA)
    for advantage in ADVANTAGES:
        for aggregation in AGGREGATIONS:
            start = time.time()
            fixed, residual = grpo_fixed_point(problem.reference, problem.rewards, BETA, GROUP,
                                               advantage, aggregation, step_size=10.0, max_steps=3000)
            print(f"{label:22s} {advantage:10s} {aggregation:20s} residual {residual:.1e}  "
                  f"KL(fix||pi*) {exact.mean_kl(fixed, star):.6f}  "
                  f"KL(fix||pi*[(G-1)r/G]) {exact.mean_kl(fixed, scaled):.6f}  "
                  f"E[r] fix {float((fixed * problem.rewards).sum(1).mean()):.4f} "
                  f"pi* {float((star * problem.rewards).sum(1).mean()):.4f}  ({time.time() - start:.0f} s)",
                  flush=True)
