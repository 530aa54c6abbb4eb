"""One adapter per algorithm: each turns prepared rows, a model and TRL args into a TRL trainer.

They read top to bottom and share nothing but their shape::

    make_trainer(policy, tokenizer, rows, args, *, peft_config, callbacks) -> trl trainer

alignlab.run.training owns what is common (loading, args, callbacks, failure handling, evaluation,
MLflow); the adapters own only what differs between TRL's trainers.
"""
