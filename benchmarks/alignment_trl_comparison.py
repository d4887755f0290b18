"""TRL's GRPO and DPO trainers beside rlspec's, on the same tiny model and the same sorting task.

Needs ``pip install trl`` (not a dependency of rlspec).  The model is a 2-layer GPT-2 built
from a config here (no download), pre-trained for a few supervised steps, then copied: one
copy is fine-tuned by TRL, one by ``rlspec.agents.alignment`` through an adapter exposing the
trainers' interface (``token_log_probs``, ``sample``).  Prints seconds per step and the
held-out reward of each.
"""

import copy
import time

import numpy as np
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
from trl import DPOConfig as TRLDPOConfig, DPOTrainer, GRPOConfig as TRLGRPOConfig, GRPOTrainer

from rlspec.agents.alignment.dpo import DPOConfig, train_dpo
from rlspec.agents.alignment.grpo import GRPOConfig, train_grpo
from rlspec.agents.alignment.policy import token_log_probs
from rlspec.agents.alignment.transformer import SortTask, held_out_evaluation, preference_pairs

torch.set_num_threads(1)
TASK = SortTask()
WORDS = ["<eos>"] + [str(d) for d in range(1, TASK.n_digits + 1)] + ["|"]


def tokenizer() -> PreTrainedTokenizerFast:
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<eos>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<eos>",
                                   unk_token="<eos>", padding_side="left")


class Adapter(torch.nn.Module):
    """An HF causal LM with the interface of rlspec's alignment trainers."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def _rows(self, prompts, tokens):
        prompts = torch.as_tensor(np.asarray(prompts), dtype=torch.int64)
        tokens = torch.as_tensor(np.asarray(tokens), dtype=torch.int64)
        separator = torch.full((len(prompts), 1), TASK.separator, dtype=torch.int64)
        return torch.cat([prompts, separator, tokens[:, :-1]], dim=1)

    def token_log_probs(self, prompts, tokens, mask):
        logits = self.model(self._rows(prompts, tokens)).logits[:, TASK.digits:]
        return token_log_probs(logits, tokens, mask)

    @torch.no_grad()
    def sample(self, prompts, rng):
        torch.manual_seed(int(rng.integers(2 ** 31)))
        n, length = len(prompts), TASK.max_length
        tokens = torch.zeros((n, length), dtype=torch.int64)
        for t in range(length):
            logits = self.model(self._rows(prompts, tokens)).logits[:, TASK.digits + t]
            tokens[:, t] = torch.multinomial(torch.softmax(logits.double(), -1), 1)[:, 0]
        tokens = tokens.numpy()
        mask = np.zeros((n, length))
        for i in range(n):
            ends = np.flatnonzero(tokens[i] == 0)
            stop = ends[0] + 1 if len(ends) else length
            mask[i, :stop], tokens[i, stop:] = 1.0, 0
        return tokens, mask


def pretrained_model(steps=10, seed=0):
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(WORDS), n_positions=16, n_embd=48, n_layer=2,
                                       n_head=4, bos_token_id=0, eos_token_id=0, pad_token_id=0))
    adapter, rng = Adapter(model), np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        prompts = TASK.prompts(64, rng)
        targets = TASK.targets(prompts)
        loss = -adapter.token_log_probs(prompts, targets, np.ones(targets.shape)).sum(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def text(prompt):
    return " ".join(str(d) for d in prompt) + " |"


def prompt_digits(prompt_text):
    return [int(w) for w in prompt_text.split() if w != "|"]


def trl_reward(prompts, completions, **_):
    out = []
    for prompt, completion in zip(prompts, completions):
        words = completion.replace("<eos>", " <eos> ").split()
        tokens = [WORDS.index(w) if w in WORDS else -1 for w in words][:TASK.max_length]
        tokens += [0] * (TASK.max_length - len(tokens))
        out.append(float(TASK.reward([prompt_digits(prompt)], np.array([tokens]), None)[0]))
    return out


def main(steps=30):
    base = pretrained_model()
    # TRL builds its reference model from the policy's path: save the base model locally.
    base.save_pretrained("/tmp/trl_base")
    tokenizer().save_pretrained("/tmp/trl_base")
    evaluate = held_out_evaluation(TASK)
    print("pretrained", evaluate(Adapter(base)))
    rng = np.random.default_rng(1)
    prompts = [text(p) for p in TASK.prompts(16 * steps, rng)]
    common = dict(output_dir="/tmp/trl_out", report_to=[], use_cpu=True, logging_steps=10,
                  max_steps=steps, learning_rate=1e-3, save_strategy="no", seed=0)
    # ---- GRPO
    trainer = GRPOTrainer(model="/tmp/trl_base", reward_funcs=trl_reward, processing_class=tokenizer(),
                          train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]),
                          args=TRLGRPOConfig(per_device_train_batch_size=128, num_generations=8,
                                             max_completion_length=TASK.max_length, beta=0.04,
                                             **common))
    start = time.time()
    trainer.train()
    print(f"TRL GRPO    {(time.time() - start) / steps:.3f} s/step  {evaluate(Adapter(trainer.model))}")
    policy, reference = Adapter(copy.deepcopy(base)), Adapter(copy.deepcopy(base)).requires_grad_(False)
    start = time.time()
    train_grpo(policy, reference, TASK.reward, TASK.prompts,
               GRPOConfig(beta=0.04, group_size=8, groups=16, iterations=steps, epochs=1,
                          learning_rate=1e-3, eval_every=0, validate_every=10), TASK.max_length)
    print(f"rlspec GRPO {(time.time() - start) / steps:.3f} s/step  {evaluate(policy)}")
    # ---- DPO: the same pairs for both, drawn from pi_ref and labelled by the reward
    pairs = preference_pairs(TASK, Adapter(base))
    x, chosen, chosen_mask, rejected, rejected_mask = pairs(64 * steps, np.random.default_rng(2))
    words = lambda row: " ".join(WORDS[t] for t in row)
    data = [{"prompt": text(p), "chosen": " " + words(c[:int(cm.sum())]),
             "rejected": " " + words(r[:int(rm.sum())])}
            for p, c, cm, r, rm in zip(x, chosen, chosen_mask, rejected, rejected_mask)]
    trainer = DPOTrainer(model="/tmp/trl_base", processing_class=tokenizer(), train_dataset=Dataset.from_list(data),
                         args=TRLDPOConfig(per_device_train_batch_size=64, beta=0.1, **common))
    start = time.time()
    trainer.train()
    print(f"TRL DPO     {(time.time() - start) / steps:.3f} s/step  {evaluate(Adapter(trainer.model))}")
    policy = Adapter(copy.deepcopy(base))
    batches = iter(range(steps))

    def same_pairs(n, _rng):
        k = next(batches) * n
        return x[k:k + n], chosen[k:k + n], chosen_mask[k:k + n], rejected[k:k + n], rejected_mask[k:k + n]
    start = time.time()
    train_dpo(policy, reference, same_pairs, DPOConfig(beta=0.1, steps=steps, batch_size=64,
                                                       learning_rate=1e-3, eval_every=0, validate_every=10))
    print(f"rlspec DPO  {(time.time() - start) / steps:.3f} s/step  {evaluate(policy)}")


if __name__ == "__main__":
    main()
