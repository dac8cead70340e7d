"""The yes/no signal tool: its one-pass margins are the backend's next-token log-probs, and its probe is
fitted on the fitting questions only and tested against always-"no"."""
from __future__ import annotations

import numpy as np
import torch

from evals.yes_no_signal import decision_scores, probe_report
from rag.answer_generator import AnswerGenerator
from rag.yes_no_head import DECISION


def test_margins_from_the_hidden_states_equal_the_next_token_log_probs(data_dir) -> None:
    generator = AnswerGenerator(model="smollm2-135m-instruct", answer_format="yes-no", passage_words=50)
    prompts = [generator.prompt(question, []) + DECISION for question in
               ("Is Paris in France?", "Would a pear sink in water?", "Could a llama give birth twice during a war "
                                                                      "that lasted nineteen years?")]
    margin, states = decision_scores(generator, prompts, batch_size=2)
    llm = generator.llm
    logprobs = llm.next_token_logprobs(prompts)
    yes = [llm.encode(" yes")[0], llm.encode("yes")[0]]
    no = [llm.encode(" no")[0], llm.encode("no")[0]]
    expected = (torch.logsumexp(logprobs[:, yes], 1) - torch.logsumexp(logprobs[:, no], 1)).numpy()
    config = llm.model.config
    assert states.shape == (3, config.num_hidden_layers + 1, config.hidden_size)
    np.testing.assert_allclose(margin, expected, atol=1e-3)


def test_the_probe_reads_a_signal_the_fitting_questions_carry_on_the_layer_that_carries_it() -> None:
    rng = np.random.default_rng(0)
    gold = rng.random(400) < 0.45
    states = rng.normal(size=(400, 3, 16))
    states[:, 1, 3] += np.where(gold, 1.5, -1.5)  # one direction of the middle layer separates yes from no
    evaluate, fit = slice(0, 100), slice(100, None)
    result = probe_report(states, gold, evaluate, fit)
    assert result.layer == 1 and result.cv_auc > 0.9 and result.auc > 0.9 and result.p_value < 0.01, result
    assert probe_report(states, gold, evaluate, fit, layer=0).auc < 0.75
    noise = probe_report(rng.normal(size=(400, 16)), gold, evaluate, fit)
    assert noise.layer == 0 and noise.auc < 0.75, noise
