"""Evaluation: image metrics, temporal consistency of video, and measuring a run or export."""
