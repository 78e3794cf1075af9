"""therapy: couples therapy for two teams that keep fighting, as a terminal retrospective."""
