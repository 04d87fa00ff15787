"""The WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi ...``."""
import workers
from app import create_app

app = create_app()
workers.init_app(app)
