"""The small core every room builds on: records passed between stages, errors, the one settings
object, text normalisation and pinyin, the label table, and the moderation log's vocabulary.
Imports nothing of Pinocchio outside `pinocchio.core`."""
