"""The notes the harness writes beside surprising size figures (grader.harness.size_notes), in
Russian and English (keys of grader.messages).

Numbers are parameters, written in the reader's language by the placeholder's format (see
grader.messages.NUMBER_FORMATS): `{size:bytes}` → `1.00 kB` / `1,00 кБ`, `{share:percent}` →
`27.4 %` / `27,4 %`, `{n:count}` → `1,234` / `1 234`, `{bits:number}` → `3.25` / `3,25`,
`{shares:shares}` → `float32 95.0 %, int8 5.0 %`. Names and lists of names are plain text.
"""

from __future__ import annotations

SIZE: dict[str, dict[str, str]] = {
    "size.torchscript_params": {
        "en": "TorchScript archives are pickles, which the grader never reads: the parameter count and "
        "dtypes are not measured, only the files' bytes.",
        "ru": "Архивы TorchScript — это pickle, а грейдер их не читает: число параметров и типы данных "
        "не измеряются, только размер файлов в байтах.",
    },
    "size.no_tensors": {
        "en": "The model files hold no tensors: there are no parameters to count.",
        "ru": "В файлах модели нет ни одного тензора: считать нечего.",
    },
    "size.uncounted": {
        "en": "{file} ({size:bytes}) is not counted in the weights: the grader loads the {format} "
        "files only (and never unpickles .bin/.pt files).",
        "ru": "{file} ({size:bytes}) не входит в размер весов: грейдер загружает только файлы "
        "{format} (и никогда не распаковывает pickle-файлы .bin/.pt).",
    },
    "size.graphs": {
        "en": "The artifact holds {n} model graphs ({graphs}); all of them are counted in the weights.",
        "ru": "В артефакте {n} графа модели ({graphs}); все они входят в размер весов.",
    },
    "size.unindexed": {
        "en": "{n} tensors in the shards are missing from the index ({shown}); "
        "they are counted, but transformers may not load them.",
        "ru": "{n} тензоров из шардов нет в индексе ({shown}); они учтены, "
        "но transformers может их не загрузить.",
    },
    "size.duplicates": {
        "en": "{n} tensor names appear in more than one file ({shown}); each copy is counted.",
        "ru": "{n} имён тензоров встречаются в нескольких файлах ({shown}); учтена каждая копия.",
    },
    "size.dtypes": {
        "en": "Parameters by stored dtype: {shares:shares}.",
        "ru": "Параметры по типу хранения: {shares:shares}.",
    },
    "size.packed": {
        "en": "{method}: {n} packed tensors hold {weights:count} weights at {widths} bits; with their "
        "scales, zero points and group indices they cost {bits:number} bits per weight. ",
        "ru": "{method}: {n} упакованных тензоров хранят {weights:count} весов по {widths} бит; "
        "вместе со scale, нулевыми точками и индексами групп это {bits:number} бита на вес. ",
    },
    "size.packed_whole": {
        "en": "{method}: {n} packed tensors hold {weights:count} weights at {widths} bits; with their "
        "scales, zero points and group indices they cost {bits:number} bits per weight. "
        "The whole checkpoint averages {whole:number} bits per weight (unquantized tensors such as "
        "embeddings and norms count too).",
        "ru": "{method}: {n} упакованных тензоров хранят {weights:count} весов по {widths} бит; "
        "вместе со scale, нулевыми точками и индексами групп это {bits:number} бита на вес. "
        "В среднем по всему чекпоинту {whole:number} бита на вес (неквантованные тензоры, "
        "например эмбеддинги и нормализации, тоже учитываются).",
    },
    "size.quant_metadata": {
        "en": "{method}: {n} tensors are quantization scales and zero points ({size:bytes}); they "
        "count in the bytes but not as parameters.",
        "ru": "{method}: {n} тензоров — это scale и нулевые точки квантования ({size:bytes}); "
        "они входят в байты, но не в число параметров.",
    },
    "size.sparse": {
        "en": "{zeros:percent} of the weights are zero, but the files store them densely "
        "({dense:bytes} of tensors). An ideal sparse format (per tensor the smaller of: the nonzero "
        "values + a 1-bit mask, or CSR) would need {ideal:bytes} "
        "({share:percent} of the dense tensors).",
        "ru": "{zeros:percent} весов равны нулю, но файлы хранят их плотно "
        "({dense:bytes} тензоров). Идеальному разреженному формату (для каждого тензора меньшее из: "
        "ненулевые значения + битовая маска или CSR) понадобилось бы {ideal:bytes} "
        "({share:percent} от плотных тензоров).",
    },
    "size.codebook": {
        "en": "{n} of {total} weight tensors hold at most {most} distinct values each "
        "({share:percent} of the weights), yet the files store every weight at full width ({stored}). "
        "A codebook encoding (ceil(log2(distinct)) bits per weight + the centroids, per tensor) would need "
        "{ideal:bytes} instead of {dense:bytes}.",
        "ru": "{n} из {total} тензоров весов содержат не более {most} различных значений "
        "({share:percent} весов), но файлы хранят каждый вес полной ширины ({stored}). Кодирование "
        "кодовой книгой (ceil(log2(число значений)) бит на вес + центроиды, для каждого тензора) заняло бы "
        "{ideal:bytes} вместо {dense:bytes}.",
    },
    "size.unique_stopped": {
        "en": "Distinct values were not counted to the end in {n} tensors larger than "
        "{limit:bytes}: each has more than 65,536 distinct values, so it is not clustered, and the "
        "codebook figure counts it as dense.",
        "ru": "В {n} тензорах больше {limit:bytes} различные значения не досчитаны до конца: "
        "в каждом их больше 65\u00a0536, значит, он не кластеризован, и в оценке кодовой книги он "
        "учтён как плотный.",
    },
    "size.pruning_masks": {
        "en": "{n} weights are stored as `*_orig` + `*_mask` (torch pruning not made "
        "permanent): the masks alone take {size:bytes}. Call torch.nn.utils.prune.remove() before "
        "saving to store each pruned weight once.",
        "ru": "{n} весов сохранены как `*_orig` + `*_mask` (прунинг torch не применён "
        "окончательно): одни маски занимают {size:bytes}. Вызовите torch.nn.utils.prune.remove() "
        "перед сохранением, чтобы каждый вес хранился один раз.",
    },
    "size.shared_constants": {
        "en": "{n} Const layers reuse the bytes of another constant in the .bin; they are counted once.",
        "ru": "{n} слоёв Const используют байты другой константы в .bin; они учтены один раз.",
    },
    "size.sparse_initializers": {
        "en": "{n} ONNX sparse initializers are counted at their full (dense) "
        "shape; their zeros are not scanned.",
        "ru": "{n} разреженных инициализаторов ONNX учтены по полной (плотной) "
        "форме; их нули не подсчитывались.",
    },
    "size.codec": {
        "en": "A general-purpose codec ({codec}) shrinks the weight files to "
        "{size:bytes} ({share:percent}): the format leaves redundancy "
        "(zeros, repeated values, low-entropy bits) that an encoding could remove.",
        "ru": "Универсальный кодек ({codec}) сжимает файлы весов до "
        "{size:bytes} ({share:percent}): в формате остаётся избыточность "
        "(нули, повторяющиеся значения, низкоэнтропийные биты), которую можно убрать кодированием.",
    },
}
