"""The sentences verify writes into a grade, in Russian and English (keys of grader.messages).

Parameters are already-formatted strings (figures as grader.verify.formatting writes them, with
a dot as the decimal separator in both languages, as the manifest asks teams to write them); a
parameter whose value starts with `@` names another message (a metric's label, a phase, a
source), rendered in the same language.
"""

from __future__ import annotations

VERIFY: dict[str, dict[str, str]] = {
    # --- why a figure is missing -------------------------------------------------------------
    "reason.failed": {
        "en": "The measurement failed at the {phase} step: {text}",
        "ru": "Замер не удался на шаге «{phase}»: {text}",
    },
    "reason.not_measurable": {
        "en": "Not measurable on this runner: {text}",
        "ru": "На этом раннере не измеряется: {text}",
    },
    "reason.noisy": {
        "en": "This measurement was made by an older grader, whose noise gate found the timing too noisy "
        "(CV {cv}). It is shown, not graded; /regrade measures it again with confidence intervals.",
        "ru": "Этот замер сделан старой версией грейдера, и её фильтр шума счёл время слишком шумным "
        "(CV {cv}). Значение показано, но не оценивается; /regrade измерит его заново с "
        "доверительными интервалами.",
    },
    "reason.inconclusive": {
        "en": "Not decided: the runner measured {measured}, and that interval reaches across the edge "
        "of the band your claim {claim} allows ({band}), so it cannot tell whether the claim holds. "
        "The course's time budget for this model was spent; the figure is shown, not graded.",
        "ru": "Не решено: на раннере измерено {measured}, и этот интервал заходит за границу "
        "диапазона, который допускает ваше заявление {claim} ({band}), поэтому нельзя сказать, "
        "верно ли оно. Время, отведённое курсом на эту модель, исчерпано; значение показано, но не "
        "оценивается.",
    },
    "reason.contended": {
        "en": "Not decided: the runner measured {measured}, outside the band your claim {claim} allows "
        "({band}), but while it timed, other work held the timed CPU for up to {waited:percent} of a "
        "round. Waiting for a CPU slows some models more than others, so the ratio itself moved: "
        "the figure is shown, not graded.",
        "ru": "Не решено: на раннере измерено {measured}, вне диапазона, который допускает ваше "
        "заявление {claim} ({band}), но во время замера другие процессы занимали этот CPU до "
        "{waited:percent} времени раунда. Ожидание CPU замедляет одни модели сильнее других, так что "
        "сдвинулось само отношение: значение показано, но не оценивается.",
    },
    "hint.inconclusive": {
        "en": "This is not your fault and needs no change to the manifest: the runner was too busy to "
        "decide (its rounds ran on CPU {cpu}; the hypervisor gave that CPU to other guests for "
        "{steal} meanwhile; frequency governor {governor}). An instructor's /regrade on a quiet "
        "runner settles it.",
        "ru": "Это не ваша ошибка, и манифест менять не нужно: раннер был слишком загружен, чтобы "
        "решить (раунды шли на CPU {cpu}; за это время гипервизор отдал этот CPU другим машинам на "
        "{steal}; режим частоты {governor}). Повторная проверка (/regrade) преподавателем на "
        "свободном раннере это решит.",
    },
    "hint.inconclusive_waited": {  # the same, where the rounds measured their wait for the CPU
        "en": "This is not your fault and needs no change to the manifest: the runner was too busy to "
        "decide (its rounds ran on CPU {cpu}; other processes held that CPU for up to "
        "{waited:percent} of a round's timed calls; the hypervisor gave it to other guests for "
        "{steal} meanwhile; frequency governor {governor}). An instructor's /regrade on a quiet "
        "runner settles it.",
        "ru": "Это не ваша ошибка, и манифест менять не нужно: раннер был слишком загружен, чтобы "
        "решить (раунды шли на CPU {cpu}; другие процессы занимали этот CPU до {waited:percent} "
        "времени замера раунда; за это время гипервизор отдал его другим машинам на {steal}; режим "
        "частоты {governor}). Повторная проверка (/regrade) преподавателем на свободном раннере это "
        "решит.",
    },
    "figure.ratio_ci": {
        "en": "{value} ({confidence} CI {interval}, {rounds} rounds)",
        "ru": "{value} ({confidence} ДИ {interval}, раундов: {rounds})",
    },
    "reason.speedup_measured": {
        "en": "Claimed {claimed}; the runner measured {measured}, the baseline and this model timed in "
        "the same paired rounds (tolerance {tolerance}).",
        "ru": "Заявлено {claimed}; на раннере измерено {measured}: базовая модель и эта модель "
        "замерялись в одних и тех же парных раундах (допуск {tolerance}).",
    },
    "reason.unknown_metric": {
        "en": "The task does not report {metric}; it reports: {available}.",
        "ru": "Задача не считает метрику {metric}; она считает: {available}.",
    },
    # a metric the task could not measure for this model while its others stand; {why} is a note
    # the harness wrote (unmeasured.*), {metric} a metric's label (@quality.<name>)
    "reason.metric_unmeasured": {
        "en": "{metric} is not measured for this model: {why}. The task's other metrics are measured "
        "and graded.",
        "ru": "{metric} для этой модели не измеряется: {why}. Остальные метрики задачи измерены и "
        "оцениваются.",
    },
    "reason.metric_unmeasured_claim": {
        "en": "Your claim {claim} cannot be verified: {metric} is not measured for this model: {why}. "
        "The task's other metrics are measured and graded.",
        "ru": "Заявление {claim} не проверить: {metric} для этой модели не измеряется: {why}. "
        "Остальные метрики задачи измерены и оцениваются.",
    },
    "unmeasured.cannot_generate": {  # causal-lm: BLEU / chrF of answers the model could not generate
        "en": "the model could not generate answers to the course's questions ({text})",
        "ru": "модель не смогла сгенерировать ответы на вопросы курса ({text})",
    },
    "reason.no_baseline": {
        "en": "There is no baseline in this submission to compare with.",
        "ru": "В этой сдаче нет базовой модели, с которой можно сравнить.",
    },
    "reason.baseline_missing_figure": {
        "en": "The baseline's figure is missing, so the ratio cannot be computed: {text}",
        "ru": "Нет замера базовой модели, поэтому отношение не вычислить: {text}",
    },
    "reason.baseline_noisy": {
        "en": "An older grader found the baseline's timing too noisy (CV {cv}), so the speed-up is not "
        "graded; /regrade measures it again with confidence intervals.",
        "ru": "Старая версия грейдера сочла время базовой модели слишком шумным (CV {cv}), поэтому "
        "ускорение не оценивается; /regrade измерит его заново с доверительными интервалами.",
    },
    # --- latency ---------------------------------------------------------------------------------
    "reason.absolute_time": {
        "en": "An absolute time measured on your own hardware cannot be checked here (measured on the "
        "runner: {measured}). Claim your baseline's {metric} too, and the grader checks the speed-up "
        "between them instead.",
        "ru": "Абсолютное время, измеренное на вашем оборудовании, здесь не проверить (на раннере: "
        "{measured}). Укажите {metric} и для базовой модели — тогда грейдер проверит ускорение.",
    },
    "reason.baseline_reference": {
        "en": "The baseline's time is the reference for your models' speed-ups; an absolute time measured "
        "on your hardware cannot be checked here (measured on the runner: {measured}).",
        "ru": "Время базовой модели — точка отсчёта для ускорения ваших моделей; абсолютное время с вашего "
        "оборудования здесь не проверить (на раннере: {measured}).",
    },
    "reason.speedup_compared": {
        "en": "Checked as the speed-up over your baseline: you claim {claimed_speedup} ({baseline_claim} → "
        "{claim}), the runner measured {measured_speedup}, the two timed in the same paired rounds "
        "(tolerance {tolerance}).",
        "ru": "Проверено как ускорение относительно базовой модели: заявлено {claimed_speedup} "
        "({baseline_claim} → {claim}), на раннере {measured_speedup}: обе модели замерялись в одних "
        "и тех же парных раундах (допуск {tolerance}).",
    },
    "reason.per_token": {
        "en": "A time per token ({claim}) cannot be compared with the grader's time per item ({measured}).",
        "ru": "Время на токен ({claim}) нельзя сравнить с временем на объект, которое измеряет грейдер "
        "({measured}).",
    },
    "reason.baseline_per_token": {
        "en": "The baseline's time is claimed per token ({claim}), so no speed-up per item can be formed "
        "from the claims.",
        "ru": "Время базовой модели указано на токен ({claim}), поэтому ускорение на объект из заявлений "
        "не получить.",
    },
    "reason.withheld": {
        "en": "Measured on the private eval set {dataset}: its figures stay with the instructors until "
        "the deadline ({until}); this claim is checked then.",
        "ru": "Измерено на закрытой выборке {dataset}: её результаты видят только преподаватели до "
        "дедлайна ({until}); это заявление будет проверено после него.",
    },
    "reason.withheld_open": {
        "en": "Measured on the private eval set {dataset}: its figures stay with the instructors until "
        "they publish them; this claim is checked then.",
        "ru": "Измерено на закрытой выборке {dataset}: её результаты видят только преподаватели, пока "
        "они их не опубликуют; это заявление будет проверено тогда.",
    },
    "reason.baseline_per_item": {
        "en": "The baseline's time is claimed per item ({claim}) and this model's per token, so no "
        "speed-up can be formed from the claims; claim both per token (time per output token) or both "
        "per item.",
        "ru": "Время базовой модели указано на объект ({claim}), а этой модели — на токен, поэтому "
        "ускорение из заявлений не получить; укажите оба на токен (время на выходной токен) или оба "
        "на объект.",
    },
    "hint.per_token": {
        "en": "Claim the time per item at the course's batch size (e.g. `19.6 ms`), as the grader "
        "measures it.",
        "ru": "Укажите время на один объект при размере батча курса (например, `19.6 ms`), как его "
        "измеряет грейдер.",
    },
    "reason.speedup_baseline": {
        "en": "This is the baseline: its speed-up over itself is 1×.",
        "ru": "Это базовая модель: её ускорение относительно самой себя — 1×.",
    },
    # --- a claim outside its tolerance -------------------------------------------------------------
    "reason.off": {
        "en": "Claimed {claimed}, measured {measured} ({delta} relative to the claim); "
        "tolerance {tolerance}.",
        "ru": "Заявлено {claimed}, измерено {measured} ({delta} относительно заявленного); "
        "допуск {tolerance}.",
    },
    "hint.binary_units": {
        "en": "{claim} matches the measured size read in {other_unit} ({measured_other}): 1 MiB = 1,048,576 "
        "bytes, 1 MB = 1,000,000 bytes. Write `{suggest_other}` or `{suggest_same}`.",
        "ru": "{claim} совпадает с измеренным размером в {other_unit} ({measured_other}): 1 MiB = "
        "1 048 576 байт, 1 MB = 1 000 000 байт. Напишите `{suggest_other}` или `{suggest_same}`.",
    },
    "hint.as_run_vs_files": {
        "en": "Your figure matches the files ({files}); the grader checks the size as the model runs "
        "after `{transform}` ({measured}), because the transform happens at load time and the files "
        "stay as they are.",
        "ru": "Ваше значение совпадает с размером файлов ({files}); грейдер проверяет размер модели "
        "в работе после `{transform}` ({measured}): преобразование выполняется при загрузке, "
        "а файлы остаются прежними.",
    },
    "hint.ideal_sparse": {
        "en": "{claim} is what an ideal sparse format would need ({ideal}), but the files store the "
        "zeros densely ({zeros} of the weights are zero): claim the size of the files you submit, or "
        "submit a format that stores only the non-zeros.",
        "ru": "{claim} — столько занял бы идеальный разреженный формат ({ideal}), но файлы хранят нули "
        "плотно (нулей среди весов: {zeros}): укажите размер сданных файлов или сдайте формат, "
        "который хранит только ненулевые веса.",
    },
    "hint.ideal_codebook": {
        "en": "{claim} is what a codebook encoding would need ({ideal}), but the files store every weight "
        "as a full number: clustering shrinks a model only in a format that stores indices and "
        "centroids. Claim the size of the files you submit.",
        "ru": "{claim} — столько заняло бы кодирование через словарь центроидов ({ideal}), но файлы "
        "хранят каждый вес полным числом: кластеризация уменьшает модель только в формате, где "
        "хранятся индексы и центроиды. Укажите размер сданных файлов.",
    },
    "hint.ideal_compressed": {
        "en": "{claim} is the size after general-purpose compression ({codec}: {ideal}), not the size of "
        "the weights the model loads. Claim the size of the files.",
        "ru": "{claim} — это размер после сжатия архиватором ({codec}: {ideal}), а не размер весов, "
        "которые загружает модель. Укажите размер файлов.",
    },
    "hint.dense_zeros": {
        "en": "{zeros} of the weights are zero, but the files store them densely, so pruning alone does "
        "not make them smaller. Claim the size of the files you submit.",
        "ru": "Нулей среди весов {zeros}, но файлы хранят их плотно, поэтому прунинг сам по себе их не "
        "уменьшает. Укажите размер сданных файлов.",
    },
    "hint.dense_zeros_ideal": {
        "en": "{zeros} of the weights are zero, but the files store them densely, so pruning alone does "
        "not make them smaller (an ideal sparse format would need {ideal}). Claim the size of the files "
        "you submit.",
        "ru": "Нулей среди весов {zeros}, но файлы хранят их плотно, поэтому прунинг сам по себе их не "
        "уменьшает (идеальный разреженный формат занял бы {ideal}). Укажите размер сданных файлов.",
    },
    "hint.dense_clustered": {
        "en": "Each tensor has at most {unique} distinct values, but the files store every weight as a "
        "full number, so clustering alone does not make them smaller. Claim the size of the files you "
        "submit.",
        "ru": "В каждом тензоре не больше {unique} различных значений, но файлы хранят каждый вес полным "
        "числом, поэтому кластеризация сама по себе их не уменьшает. Укажите размер сданных файлов.",
    },
    "hint.dense_clustered_ideal": {
        "en": "Each tensor has at most {unique} distinct values, but the files store every weight as a "
        "full number, so clustering alone does not make them smaller (indices and a codebook would need "
        "{ideal}). Claim the size of the files you submit.",
        "ru": "В каждом тензоре не больше {unique} различных значений, но файлы хранят каждый вес полным "
        "числом, поэтому кластеризация сама по себе их не уменьшает (индексы и словарь центроидов заняли "
        "бы {ideal}). Укажите размер сданных файлов.",
    },
    "hint.size_generic": {
        "en": "The grader counts the bytes of every file that holds weights (files counted: {files_count}). "
        "Check which files you measured and whether you wrote MB (10⁶ bytes) or MiB (2²⁰ bytes).",
        "ru": "Грейдер считает байты всех файлов с весами (учтено файлов: {files_count}). Проверьте, какие "
        "файлы вы измеряли и что написали: MB (10⁶ байт) или MiB (2²⁰ байт).",
    },
    "hint.memory": {
        "en": "The grader reads the peak from the kernel for a fresh process that loads the model and runs "
        "the course's inputs, minus the interpreter's own memory ({source}).",
        "ru": "Грейдер берёт пик из ядра для нового процесса, который загружает модель и прогоняет входы "
        "курса, за вычетом памяти самого интерпретатора ({source}).",
    },
    "hint.vram": {
        "en": "The grader reads GPU memory as {source} for a fresh process; tools differ (nvidia-smi "
        "includes the CUDA context, torch.cuda.max_memory_allocated does not).",
        "ru": "Грейдер берёт память GPU как {source} для нового процесса; инструменты считают по-разному "
        "(nvidia-smi включает CUDA-контекст, torch.cuda.max_memory_allocated — нет).",
    },
    "hint.quality_other_metric": {
        "en": "{claim} matches {other} ({other_value}); did you mean `{other}: {claim_raw}`?",
        "ru": "{claim} совпадает с {other} ({other_value}); возможно, вы имели в виду "
        "`{other}: {claim_raw}`?",
    },
    "hint.quality": {
        "en": "The grader evaluates on {dataset} ({n} items, {digest}) with the course's settings; a "
        "different eval split, preprocessing or max_length changes the figure.",
        "ru": "Грейдер оценивает на {dataset} ({n} объектов, {digest}) с настройками курса; другая "
        "выборка, предобработка или max_length меняют результат.",
    },
    "hint.speedup": {
        "en": "Speed-ups are measured with the baseline and the model interleaved on the same runner, at "
        "the course's batch size and thread count.",
        "ru": "Ускорение измеряется на одном раннере, базовая модель и ваша модель замеряются поочерёдно, "
        "при размере батча и числе потоков курса.",
    },
    # --- what a figure is --------------------------------------------------------------------------
    "source.weights_files": {"en": "bytes of the weight files", "ru": "байты файлов с весами"},
    "source.as_run": {
        "en": "weights as run, after the grader's transform",
        "ru": "веса в работе, после преобразования грейдером",
    },
    "source.median_per_item": {"en": "median time per item", "ru": "медиана времени на объект"},
    "source.time_per_output_token": {
        "en": "median time per output token (greedy generation with the KV cache)",
        "ru": "медиана времени на выходной токен (жадная генерация с KV-кэшем)",
    },
    "source.rss_above_interpreter": {
        "en": "peak RSS above the interpreter's own",
        "ru": "пиковый RSS сверх памяти интерпретатора",
    },
    "source.nvml_process": {"en": "NVML per-process GPU memory", "ru": "память GPU процесса по NVML"},
    "source.torch_peak_reserved": {
        "en": "torch allocator peak (reserved)",
        "ru": "пик аллокатора torch (reserved)",
    },
    "source.torch_peak_allocated": {
        "en": "torch allocator peak (allocated)",
        "ru": "пик аллокатора torch (allocated)",
    },
    "source.nvml_device_delta": {
        "en": "growth of the device's used GPU memory (NVML)",
        "ru": "прирост занятой памяти GPU (NVML)",
    },
    "source.ratio": {"en": "ratio of the measured figures", "ru": "отношение измеренных значений"},
    "source.quality": {"en": "the course's eval set", "ru": "оценочная выборка курса"},
    # --- steps of a measurement --------------------------------------------------------------------
    "phase.fetch": {"en": "fetch", "ru": "загрузка файлов"},
    "phase.size": {"en": "size", "ru": "размер"},
    "phase.load": {"en": "load", "ru": "загрузка модели"},
    "phase.latency": {"en": "latency", "ru": "время инференса"},
    "phase.memory": {"en": "memory", "ru": "память"},
    "phase.quality": {"en": "quality", "ru": "качество"},
    "phase.model": {"en": "model", "ru": "модель"},
    # --- scores ------------------------------------------------------------------------------------
    "score.not_ranked": {
        "en": "This homework is measured and verified, not ranked.",
        "ru": "Это задание измеряется и проверяется, но не ранжируется.",
    },
    "score.reference": {
        "en": "The baseline is the reference; it is not scored.",
        "ru": "Базовая модель — точка отсчёта, баллов не получает.",
    },
    "score.no_baseline": {
        "en": "Not scored: the score compares with the team's baseline, and there is none.",
        "ru": "Без балла: балл считается относительно базовой модели команды, а её нет.",
    },
    "score.missing": {
        "en": "Not scored: {what} is missing ({why}).",
        "ru": "Без балла: нет значения «{what}» ({why}).",
    },
    "score.no_quality": {
        "en": "Not scored: the quality gate needs the quality of this model and of the baseline ({why}).",
        "ru": "Без балла: для порога качества нужно качество этой модели и базовой ({why}).",
    },
    "score.withheld": {
        "en": "Not scored yet: the score needs the quality on the private eval set, which stays with the "
        "instructors until the deadline ({until}).",
        "ru": "Пока без балла: для балла нужно качество на закрытой выборке, которое видят только "
        "преподаватели до дедлайна ({until}).",
    },
    "score.withheld_open": {
        "en": "Not scored yet: the score needs the quality on the private eval set, which stays with the "
        "instructors until they publish it.",
        "ru": "Пока без балла: для балла нужно качество на закрытой выборке, которое видят только "
        "преподаватели, пока они его не опубликуют.",
    },
    "score.below_gate": {
        "en": "Not scored: keeps {retained} of the baseline's quality ({metric}), below the {required} this "
        "homework requires.",
        "ru": "Без балла: сохраняет {retained} качества базовой модели ({metric}), "
        "меньше требуемых {required}.",
    },
    "score.compression": {
        "en": "Score = compression {value} (baseline size / this size); keeps {retained} of the baseline's "
        "quality ({metric}).",
        "ru": "Балл = степень сжатия {value} (размер базовой / размер этой модели); сохранено {retained} "
        "качества базовой модели ({metric}).",
    },
    "score.speedup": {
        "en": "Score = speed-up on {device} {value} (baseline median / this median, same run); keeps "
        "{retained} of the baseline's quality ({metric}).",
        "ru": "Балл = ускорение на {device} {value} (медиана базовой / медиана этой модели, один замер); "
        "сохранено {retained} качества базовой модели ({metric}).",
    },
    "score.quality": {
        "en": "Score = {metric} {value} ({direction}).",
        "ru": "Балл = {metric} {value} ({direction}).",
    },
    "score.pareto": {
        "en": "Pareto rank {rank} among this submission's models on (compression, speed-up on {device}, "
        "quality retained); ties are ordered by compression {value}.",
        "ru": "Ранг Парето {rank} среди моделей этой сдачи по (сжатие, ускорение на {device}, сохранённое "
        "качество); при равенстве — по сжатию {value}.",
    },
    "direction.higher": {"en": "higher is better", "ru": "чем больше, тем лучше"},
    "direction.lower": {"en": "lower is better", "ru": "чем меньше, тем лучше"},
    "why.not_measured": {"en": "not measured", "ru": "не измерено"},
    "why.inconclusive": {
        "en": "the speed could not be decided within the course's time budget",
        "ru": "скорость не удалось определить за отведённое курсом время",
    },
    "why.not_measurable": {"en": "not measurable on this runner", "ru": "не измеряется на этом раннере"},
    "why.failed": {"en": "the measurement failed", "ru": "замер не удался"},
    # --- metric names ------------------------------------------------------------------------------
    "metric.size": {"en": "weights size", "ru": "размер весов"},
    "metric.latency_cpu": {"en": "CPU inference time", "ru": "время инференса CPU"},
    "metric.latency_gpu": {"en": "GPU inference time", "ru": "время инференса GPU"},
    "metric.speedup_cpu": {"en": "CPU speed-up", "ru": "ускорение CPU"},
    "metric.speedup_gpu": {"en": "GPU speed-up", "ru": "ускорение GPU"},
    "metric.compression": {"en": "compression", "ru": "степень сжатия"},
    "metric.ram": {"en": "RAM", "ru": "RAM"},
    "metric.vram": {"en": "VRAM", "ru": "VRAM"},
    "metric.quality": {"en": "quality", "ru": "качество"},
}
