"""SwinIR and HAT, and the window attention they share."""
