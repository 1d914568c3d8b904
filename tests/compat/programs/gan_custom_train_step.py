"""A GAN with a custom `train_step` and no `call()` (after the Keras DCGAN / "customizing what
happens in fit" guides), one train_step per backend as those guides write them."""
import numpy as np
import keras
from keras import layers, ops

latent_dim = 8
discriminator = keras.Sequential(
    [keras.Input(shape=(16,)), layers.Dense(16), layers.LeakyReLU(negative_slope=0.2),
     layers.Dense(1)], name="discriminator")
generator = keras.Sequential(
    [keras.Input(shape=(latent_dim,)), layers.Dense(16), layers.LeakyReLU(negative_slope=0.2),
     layers.Dense(16, activation="tanh")], name="generator")


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, real_images):
        backend = keras.backend.backend()
        batch_size = ops.shape(real_images)[0]
        noise = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        fake = self.generator(noise)
        combined = ops.concatenate([fake, real_images], axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
        misleading = ops.zeros((batch_size, 1))
        if backend == "tensorflow":
            import tensorflow as tf

            with tf.GradientTape() as tape:
                d_loss = self.loss_fn(labels, self.discriminator(combined))
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            with tf.GradientTape() as tape:
                g_loss = self.loss_fn(misleading, self.discriminator(self.generator(noise)))
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        elif backend == "torch":
            self.zero_grad()
            d_loss = self.loss_fn(labels, self.discriminator(combined))
            d_loss.backward()
            grads = [v.value.grad for v in self.discriminator.trainable_weights]
            self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
            self.zero_grad()
            g_loss = self.loss_fn(misleading, self.discriminator(self.generator(noise)))
            g_loss.backward()
            grads = [v.value.grad for v in self.generator.trainable_weights]
            self.g_optimizer.apply(grads, self.generator.trainable_weights)
        else:
            raise RuntimeError("this program's train_step is written for tensorflow and torch")
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


rng = np.random.default_rng(0)
real = np.tanh(rng.normal(size=(96, 16))).astype("float32")
gan = GAN(discriminator, generator, latent_dim)
gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate=3e-4),
            g_optimizer=keras.optimizers.Adam(learning_rate=3e-4),
            loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
if keras.backend.backend() in ("tensorflow", "torch"):
    history = gan.fit(real, batch_size=32, epochs=2, verbose=0)
    RESULTS["keys"] = sorted(history.history)
    RESULTS["finite"] = bool(np.isfinite(history.history["d_loss"]).all())
