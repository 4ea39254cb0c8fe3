"""Keras callbacks and schedules for training flows: a warm-up, a NaN guard, throughput, sample grids."""

import os
import time

import numpy as np
import tensorflow as tf
import tf_keras

from tfp_flows import applications
from tfp_flows import images

__all__ = ["LinearWarmup", "NaNGuard", "SampleGrid", "Throughput"]


class LinearWarmup(tf_keras.optimizers.schedules.LearningRateSchedule):
  """Learning rate rising linearly from 0 to `peak` over `warmup_steps`, then flat.

  lr(step) = peak * min(1, (step + 1) / warmup_steps). Flow++ warms up over
  2000 steps to 3e-4 (Ho et al. 2019); Glow uses a warm-up too.
  """

  def __init__(self, peak, warmup_steps):
    super().__init__()
    if not peak > 0 or int(warmup_steps) != warmup_steps or warmup_steps < 1:
      raise ValueError("`peak` must be > 0 and `warmup_steps` an integer >= 1;"
                       f" got peak={peak!r}, warmup_steps={warmup_steps!r}.")
    self.peak = float(peak)
    self.warmup_steps = int(warmup_steps)

  def __call__(self, step):
    fraction = tf.cast(step + 1, tf.float32) / self.warmup_steps
    return self.peak * tf.minimum(1., fraction)

  def get_config(self):
    return {"peak": self.peak, "warmup_steps": self.warmup_steps}


class NaNGuard(tf_keras.callbacks.Callback):
  """Stops training at the first non-finite loss, naming the epoch and step.

  `FlowModel` skips the update of a non-finite step, so the weights at the stop
  are those of the last good step.
  """

  def __init__(self):
    super().__init__()
    self.epoch = 0
    self.stopped_at = None

  def on_epoch_begin(self, epoch, logs=None):
    self.epoch = epoch

  def on_train_batch_end(self, batch, logs=None):
    loss = (logs or {}).get("loss")
    if loss is not None and not np.isfinite(loss):
      self.stopped_at = (self.epoch, batch)
      print(f"NaNGuard: non-finite loss ({loss}) at epoch {self.epoch + 1}, "
            f"step {batch + 1}; stopping. The weights are those of the last "
            "finite step.")
      self.model.stop_training = True


class Throughput(tf_keras.callbacks.Callback):
  """Training examples per second, measured from the end of the first step.

  The first step traces and compiles the step function, so it is left out
  of the rate and timed on its own: `first_step_seconds` from the start of
  training to the end of the first step, and `first_step_end`, its wall
  clock (`time.time()`). `examples_per_second` counts `global_batch_size`
  examples per step (a partial last batch counts as full); None until two
  steps have run.
  """

  def __init__(self, global_batch_size):
    super().__init__()
    self.global_batch_size = global_batch_size
    self.examples_per_second = None
    self.first_step_seconds = None
    self.first_step_end = None
    self._steps = 0
    self._began = None
    self._start = None

  def on_train_begin(self, logs=None):
    self._began = time.perf_counter()

  def on_train_batch_end(self, batch, logs=None):
    now = time.perf_counter()
    if self._start is None:
      self._start = now
      self.first_step_end = time.time()
      if self._began is not None:
        self.first_step_seconds = now - self._began
      return
    self._steps += 1
    self.examples_per_second = (
        self._steps * self.global_batch_size / max(now - self._start, 1e-9))


class SampleGrid(tf_keras.callbacks.Callback):
  """Writes a grid of samples every `every` epochs: PNG files and/or TensorBoard.

  The same base draws (fixed `seed`) are decoded each time, so successive
  grids show how the same latents change as the flow trains. For a
  conditional model trained on class labels (`num_classes`), sample i has
  class i mod C, so each row of a C-wide grid shows the classes in order;
  with context vectors, pass `context` ([C] or [num_samples, C]).
  """

  def __init__(self, directory=None, num_samples=64, temperature=1.0,
               every=1, log_dir=None, seed=0, context=None):
    """Creates the callback.

    Args:
      directory: folder for `epoch_NNNN.png`, or None.
      num_samples: images per grid.
      temperature: sampling temperature (see `tfp_flows.sample`).
      every: epochs between grids.
      log_dir: TensorBoard log folder for a `samples` image summary, or None.
      seed: stateless seed of the base draws.
      context: context of the samples of a conditional flow (default: the
        classes in turn, see above).
    """
    super().__init__()
    self.directory = directory
    self.num_samples = num_samples
    self.temperature = temperature
    self.every = every
    self.seed = seed
    self.context = context
    self._writer = (tf.summary.create_file_writer(log_dir)
                    if log_dir else None)

  def on_epoch_end(self, epoch, logs=None):
    if (epoch + 1) % self.every:
      return
    dist = self.model.distribution
    context = self.context
    if context is None and getattr(self.model, "num_classes", None):
      context = tf.one_hot(tf.range(self.num_samples) % self.model.num_classes,
                           self.model.num_classes, dtype=dist.dtype)
    x = applications.sample(dist, self.num_samples, self.temperature,
                            seed=(self.seed, 0), context=context).numpy()
    zoom = max(1, 64 // x.shape[1]) if x.ndim == 4 else 1
    if self.directory:
      images.save_image_grid(
          x, os.path.join(self.directory, f"epoch_{epoch + 1:04d}.png"),
          zoom=zoom)
    if self._writer is not None:
      with self._writer.as_default():
        tf.summary.image("samples", images.image_grid(x, zoom=zoom)[None],
                         step=epoch + 1)
      self._writer.flush()
