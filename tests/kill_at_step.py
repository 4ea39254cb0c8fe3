"""Runs `tfp-flows` and SIGKILLs itself as training step N begins.

    python tests/kill_at_step.py N [--then] ARGS...

ARGS are `tfp-flows` arguments. Steps are counted from 1 over this process's
`fit` (a fresh run: the global step). With `--first ARGS... --then`, a
first command runs to completion in the same process before the killed one
(one TensorFlow start-up for both). Not a test module: tests run it as a
script.
"""

import os
import signal
import sys

import tf_keras

from tfp_flows import cli
from tfp_flows import experiment


class KillAtStep(tf_keras.callbacks.Callback):
  """SIGKILLs this process when step `step` (from 1) is about to run."""

  def __init__(self, step):
    super().__init__()
    self.step = step
    self.steps = 0

  def on_train_batch_begin(self, batch, logs=None):
    self.steps += 1
    if self.steps == self.step:
      sys.stdout.flush()
      sys.stderr.flush()
      os.kill(os.getpid(), signal.SIGKILL)


def main(argv):
  step, args = int(argv[0]), argv[1:]
  if args[:1] == ["--first"]:
    split = args.index("--then")
    code = cli.main(args[1:split])
    if code:
      return code
    args = args[split + 1:]
  callbacks = experiment._callbacks  # pylint: disable=protected-access
  experiment._callbacks = lambda *a: callbacks(*a) + [KillAtStep(step)]  # pylint: disable=protected-access
  cli.main(args)
  return 3  # Never killed: the step was not reached.


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
