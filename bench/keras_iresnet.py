"""The Keras baseline of bench/train-keras.ts: facepipe's default r50 + ArcFace trained in Keras 3.

The same network and step as facepipe's defaults (src/model/config.ts), built from stock Keras
layers: IR-ResNet50 on NHWC 112x112x3 (stem conv3x3 64 -> BN -> PReLU; IBasicBlock units
[3, 4, 14, 3] of widths 64/128/256/512, BN -> conv3x3 -> BN -> PReLU -> conv3x3 (stride s) -> BN,
plus the identity or a conv1x1 stride-2 -> BN projection), symmetric padding 1 (ZeroPadding2D +
VALID for stride 2; 'same' is the same thing for a stride-1 3x3), the "E" head (BN -> Dropout 0.4
-> Flatten -> Dense 512 with bias -> BN without scale), per-channel PReLU (alpha 0.25), BN eps 2e-5
momentum 0.9, glorot-normal kernels; an ArcFace layer (s 64, m 0.5, with the cos(pi - m) fallback)
over glorot-uniform class weights; L2 5e-4 as facepipe's REGULARIZATION.original (conv/dense/class
kernels, BN gammas, PReLU alphas, the Dense bias); SGD momentum 0.9, lr 0.0005; batch 16.

One step = forward (training=True: batch statistics, moving averages, dropout), sparse softmax
cross-entropy + the L2 losses, GradientTape gradients, SGD update. `graph` runs it as a
tf.function (no XLA), `eager` op by op. Prints one JSON line: per measured step wall and CPU
milliseconds (process CPU, all threads), and peak RSS (getrusage ru_maxrss).

    python keras_iresnet.py {graph|eager} {r50|tiny} [warmup] [steps]

Thread settings (TF_NUM_INTEROP_THREADS=1, TF_ENABLE_ONEDNN_OPTS=1, intra-op = cores) come from the
environment, as for facepipe's native backend; they are also applied through tf.config.
"""
import json
import math
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(len(os.sched_getaffinity(0))))

import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers, regularizers  # noqa: E402

tf.config.threading.set_inter_op_parallelism_threads(int(os.environ["TF_NUM_INTEROP_THREADS"]))
tf.config.threading.set_intra_op_parallelism_threads(int(os.environ["TF_NUM_INTRAOP_THREADS"]))

SIZES = {
    # depth-50 units, widths, stem, input size, embedding, classes
    "r50": dict(units=(3, 4, 14, 3), widths=(64, 128, 256, 512), stem=64, size=112, emb=512, classes=85_742),
    "tiny": dict(units=(3, 4, 14, 3), widths=(8, 16, 16, 32), stem=8, size=32, emb=64, classes=1000),
}
BATCH = 16
L2 = 5e-4
EPS, MOMENTUM = 2e-5, 0.9


def l2():
    return regularizers.L2(L2)


def conv(x, filters, k, stride, name):
    """k x k conv with MXNet's symmetric padding (k - 1) / 2, no bias."""
    pad = (k - 1) // 2
    if stride == 1 or pad == 0:
        padding = "same" if pad else "valid"
    else:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        padding = "valid"
    return layers.Conv2D(filters, k, strides=stride, padding=padding, use_bias=False,
                         kernel_initializer="glorot_normal", kernel_regularizer=l2(), name=name)(x)


def bn(x, name, scale=True):
    return layers.BatchNormalization(momentum=MOMENTUM, epsilon=EPS, scale=scale,
                                     gamma_regularizer=l2() if scale else None, name=name)(x)


def prelu(x, name):
    return layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), alpha_regularizer=l2(),
                        shared_axes=[1, 2], name=name)(x)


def unit(x, cout, stride, proj, name):
    y = bn(x, f"{name}_bn1")
    y = conv(y, cout, 3, 1, f"{name}_conv1")
    y = bn(y, f"{name}_bn2")
    y = prelu(y, f"{name}_relu1")
    y = conv(y, cout, 3, stride, f"{name}_conv2")
    y = bn(y, f"{name}_bn3")
    sc = bn(conv(x, cout, 1, stride, f"{name}_conv1sc"), f"{name}_sc") if proj else x
    return layers.Add(name=f"{name}_add")([y, sc])


def backbone(c):
    inp = keras.Input((c["size"], c["size"], 3), batch_size=BATCH, name="input")
    h = prelu(bn(conv(inp, c["stem"], 3, 1, "conv0"), "bn0"), "prelu0")
    for s, (n, w) in enumerate(zip(c["units"], c["widths"])):
        for u in range(n):
            h = unit(h, w, 2 if u == 0 else 1, u == 0, f"stage{s + 1}_unit{u + 1}")
    h = bn(h, "bn1")
    h = layers.Dropout(0.4, name="dropout")(h)
    h = layers.Flatten(name="flatten")(h)
    h = layers.Dense(c["emb"], kernel_initializer="glorot_normal", kernel_regularizer=l2(),
                     bias_regularizer=l2(), name="E_DenseLayer")(h)
    return keras.Model(inp, bn(h, "fc1", scale=False), name="iresnet50")


class ArcFace(layers.Layer):
    """Margin logits: s*cos(theta) for every class, s*phi for the label's, where
    phi = cos(theta + m) while cos(theta) > cos(pi - m), else cos(theta) - sin(pi - m)*m."""

    def __init__(self, classes, s=64.0, m=0.5, **kw):
        super().__init__(**kw)
        self.classes, self.s = classes, s
        self.cos_m, self.sin_m = math.cos(m), math.sin(m)
        self.th, self.mm = math.cos(math.pi - m), math.sin(math.pi - m) * m

    def build(self, input_shape):
        self.w = self.add_weight(name="kernel", shape=(input_shape[-1], self.classes),
                                 initializer="glorot_uniform", regularizer=l2())

    def call(self, emb, labels):
        cos = tf.matmul(tf.math.l2_normalize(emb, axis=1), tf.math.l2_normalize(self.w, axis=0))
        cos = tf.clip_by_value(cos, -1.0, 1.0)
        onehot = tf.one_hot(labels, self.classes, dtype=cos.dtype)
        t = tf.reduce_sum(cos * onehot, axis=1, keepdims=True)
        sin = tf.sqrt(tf.maximum(1.0 - tf.square(t), 1e-12))
        phi = tf.where(t > self.th, t * self.cos_m - sin * self.sin_m, t - self.mm)
        return self.s * (cos + onehot * (phi - t))


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main():
    mode, size = sys.argv[1], sys.argv[2]
    warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    c = SIZES[size]
    keras.utils.set_random_seed(1)
    net = backbone(c)
    head = ArcFace(c["classes"], name="arcface")
    head.build((BATCH, c["emb"]))
    variables = net.trainable_variables + head.trainable_variables
    opt = keras.optimizers.SGD(learning_rate=0.0005, momentum=0.9)
    opt.build(variables)
    x = tf.random.uniform((BATCH, c["size"], c["size"], 3), -1.0, 1.0, seed=2)
    labels = tf.random.uniform((BATCH,), 0, c["classes"], dtype=tf.int32, seed=3)

    def train_step(x, labels):
        with tf.GradientTape() as tape:
            logits = head(net(x, training=True), labels)
            ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
            loss = ce + tf.add_n(net.losses + head.losses)
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables))
        return loss

    step = tf.function(train_step, jit_compile=False) if mode == "graph" else train_step
    wall, cpu, losses = [], [], []
    for i in range(warmup + steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = float(step(x, labels))  # float() waits for the step
        if i >= warmup:
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        losses.append(loss)
    print(json.dumps({
        "stepMs": wall, "cpuMs": cpu, "peakRssMB": rss_mb(), "loss": losses,
        "params": int(sum(v.shape.num_elements() for v in variables)),
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "threads": {"intraOp": tf.config.threading.get_intra_op_parallelism_threads(),
                    "interOp": tf.config.threading.get_inter_op_parallelism_threads(),
                    "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS")},
    }))


if __name__ == "__main__":
    main()
