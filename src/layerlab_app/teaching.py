"""One plain sentence per idea, shown next to the control where it matters."""

from __future__ import annotations

STANDARDIZE = (
    "Numeric columns are standardized inside the model (mean 0, standard deviation 1, "
    "measured on the training rows only), so a column in thousands does not drown out "
    "one in fractions."
)
ONE_HOT = (
    "Categorical and yes/no columns are one-hot encoded: one 0/1 input per category, plus "
    "one slot for categories the model never saw in training."
)
OUTPUT = {
    "regression": (
        "To predict a number the output is one linear unit, and mean squared error (MSE) "
        "punishes large misses much more than small ones."
    ),
    "binary": (
        "With two classes one sigmoid unit gives the probability of the second class, and "
        "binary cross-entropy punishes confident wrong answers hardest."
    ),
    "multiclass": (
        "With several classes the output has one unit per class and a softmax, which turns "
        "scores into probabilities that add up to 1; categorical cross-entropy punishes "
        "confident wrong answers hardest."
    ),
}
CAPACITY = (
    "Start small. If training and validation scores are both poor, the network is "
    "underfitting: make it wider (more units), then deeper (more layers). If training gets "
    "much better than validation, it is overfitting: add dropout or use fewer units."
)
OPTIMIZER = (
    "Adam adapts the step size for every weight and works well without tuning; SGD with "
    "momentum is the classic alternative."
)
LEARNING_RATE = (
    "The size of each step down the loss: too high and the loss jumps around or explodes, "
    "too low and training crawls."
)
MOMENTUM = "SGD keeps this fraction of its previous step, which smooths and speeds up descent."
BATCH_SIZE = (
    "How many rows the network looks at before each weight update: smaller batches give "
    "noisier but more frequent updates."
)
EPOCHS = "One epoch is one pass over the training rows; with early stopping on, this is the most it runs."
VALIDATION_SPLIT = (
    "This share of rows is held out of training and checked after every epoch: when "
    "validation loss stops improving while training loss keeps falling, the network has "
    "started to memorise."
)
PATIENCE = (
    "Early stopping ends training after this many epochs without a better validation loss; "
    "0 turns it off and trains for every epoch."
)
LR_PLATEAU_FACTOR = (
    "When the validation loss has not improved for half the patience, the learning rate is "
    "multiplied by this (0.3: cut to a third) for smaller, steadier steps, and training goes "
    "on; 1 never lowers it. A schedule such as cosine sets the rate itself instead."
)
REFIT = (
    "Once validation has chosen how many epochs to train, a fresh network trains on the "
    "training and validation rows together for that many epochs and becomes the model: a "
    "third more rows to learn from with the usual splits, for about that much more time. "
    "The curves stay those of the first network; the test rows stay unseen."
)
RESTORE_BEST_WEIGHTS = (
    "Keep the weights of the epoch with the best validation loss instead of the last epoch."
)
SEED = "The same seed gives the same split and the same starting weights, so a run can be repeated."
TEST_SPLIT = (
    "A further {share} of the rows is held back as a test set that training never sees; the "
    "Results page scores the model on it."
)
MEMORY = (
    "What training this network on these rows holds in memory at its peak: weights, optimizer "
    "state, the batch's activations and the data. Wider layers and bigger batches need more."
)

CLASS_WEIGHT = (
    "When classes are imbalanced, balanced weights make each class count the same in the "
    "loss, so the network cannot do well by ignoring a rare class."
)

RECIPE = (
    "Optional changes to how the network trains and reads numbers. A new table starts with "
    "an ensemble of 4, which helped on most of the ten benchmark tables; the others start "
    "off (or at Keras's own value), as none helped on most, so turn on one at a time and "
    "compare the runs."
)
LR_SCHEDULE = (
    "Cosine: the learning rate rises over the first 5% of the planned epochs, then falls "
    "smoothly to zero at the last, so the last epochs make small, careful steps."
)
SCALING = (
    "Robust: centre each number on its median, divide by its interquartile range and "
    "squash values beyond about 3 smoothly, so one extreme row cannot squeeze all the others "
    "together. Standard: subtract the mean, divide by the standard deviation."
)
NUMERIC_EMBEDDING = (
    "Piecewise: each number also becomes 16 inputs saying how far along each of its "
    "quantile bins it lies, so the first layer can bend where the data bends."
)
BETA_2 = (
    "How long Adam remembers the size of past gradients: 0.999 is Keras's default; 0.95 "
    "forgets faster and is often steadier on tables."
)
WEIGHT_DECAY = (
    "Each step shrinks every weight a little (by learning rate x this), which keeps weights "
    "small: a gentle brake on memorising the training rows."
)
ENSEMBLE = (
    "Train this many copies of the network side by side, each from its own starting weights, "
    "and predict their average: steadier predictions for this many times the training time."
)
LABEL_SMOOTHING = (
    "Train against labels softened by this share (0.1: 90% sure instead of 100%), which "
    "keeps the network from becoming over-confident. The reported loss stays the plain one."
)
