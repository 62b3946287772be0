"""The web face of docsign: Flask app factory (docsign.web.app) and blueprints."""
