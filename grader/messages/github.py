"""The few sentences the GitHub integration writes itself, in Russian and English (keys of
grader.messages, all under `github.`).

The report (comment body, check-run text) comes from grader.report's templates; these are the
frames around it: the note on a cut comment, the check run while it waits, the refusal of a
`/regrade` from someone who may not ask for one, and the labels' descriptions.
"""

from __future__ import annotations

GITHUB: dict[str, dict[str, str]] = {
    "github.truncated": {
        "ru": "✂️ Отчёт обрезан: он длиннее лимита GitHub для комментария (65 536 символов). "
        "Полный отчёт — в сводке запуска грейдера{where}.",
        "en": "✂️ This report was cut: it is longer than GitHub allows in a comment (65,536 characters). "
        "The full report is in the grading run's summary{where}.",
    },
    "github.check_truncated": {
        "ru": "\n\n…(обрезано; полный отчёт — в комментарии к PR и в сводке запуска)",
        "en": "\n\n…(cut; the full report is in the PR comment and the run's summary)",
    },
    "github.queued_title": {"ru": "В очереди на GPU-раннер", "en": "Waiting for a GPU runner"},
    "github.queued_summary": {
        "ru": "Манифест проверен; модели ждут замера на GPU-раннере курса. Результат появится здесь "
        "и в комментарии к PR.",
        "en": "The manifest validated; the models are waiting to be measured on the course's GPU runner. "
        "The result will appear here and in a PR comment.",
    },
    "github.broken_title": {
        "ru": "Проверка прервалась до результата",
        "en": "The grading run broke before a result",
    },
    "github.broken_summary": {
        "ru": "Замер не завершился (раннер упал или вышло время). Это не ошибка в вашей работе: "
        "преподаватель перезапустит проверку. Журнал запуска: {url}",
        "en": "The measurement did not finish (the runner failed or timed out). This is not a problem "
        "with your submission: an instructor will restart the grading. The run's log: {url}",
    },
    "github.regrade_refused": {
        "ru": "@{login}, перепроверку (`/regrade`) запускают преподаватели курса. Если работу нужно "
        "перепроверить, пожалуйста, напишите преподавателю — он запустит её сам.",
        "en": "@{login}, a regrade (`/regrade`) is started by the course's instructors. If this "
        "submission needs one, please ask an instructor, who will start it.",
    },
    "github.label_graded": {
        "ru": "Грейдер опубликовал проверенные результаты",
        "en": "The grader posted verified results",
    },
    "github.label_claims_mismatch": {
        "ru": "Заявленные числа не подтвердились замером",
        "en": "Some claimed figures were not reproduced",
    },
    "github.label_invalid_submission": {
        "ru": "Манифест или PR не прошли проверку; модели не замерялись",
        "en": "The manifest or the PR did not validate; nothing was measured",
    },
    "github.label_needs_approval": {
        "ru": "Нужно решение преподавателя (например, метка allow-torchscript)",
        "en": "Waiting for an instructor (e.g. the allow-torchscript label)",
    },
}
