"""Evaluation metrics computed from predictions: classification and regression."""

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes):
    """``C[i, j]`` = number of rows of true class i predicted as class j."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return matrix


def classification_metrics(y_true, y_pred, class_names):
    """Accuracy, per-class precision/recall/F1/support, their macro and weighted averages."""
    matrix = confusion_matrix(y_true, y_pred, len(class_names))
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    hits = np.diag(matrix)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, hits / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, hits / np.maximum(support, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    per_class = [
        {
            "class": name,
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
        }
        for k, name in enumerate(class_names)
    ]
    total = max(int(support.sum()), 1)
    weights = support / total

    def average(values, w):
        return float(np.sum(values * w))

    uniform = np.full(len(class_names), 1 / len(class_names))
    return {
        "accuracy": float(hits.sum() / total),
        "per_class": per_class,
        "macro_avg": {
            "precision": average(precision, uniform),
            "recall": average(recall, uniform),
            "f1": average(f1, uniform),
            "support": int(support.sum()),
        },
        "weighted_avg": {
            "precision": average(precision, weights),
            "recall": average(recall, weights),
            "f1": average(f1, weights),
            "support": int(support.sum()),
        },
        "confusion_matrix": matrix.tolist(),
    }


def regression_metrics(y_true, y_pred):
    """MSE, RMSE, MAE, median absolute error and R² (over all target columns)."""
    y_true = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)
    residual = y_pred - y_true
    mse = float(np.mean(residual**2))
    total = float(np.sum((y_true - y_true.mean(axis=0)) ** 2))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.mean(np.abs(residual))),
        "median_absolute_error": float(np.median(np.abs(residual))),
        "r2": float(1 - np.sum(residual**2) / total) if total > 0 else None,
    }
