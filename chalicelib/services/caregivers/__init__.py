"""Caregivers: grants, acting for a patient, who viewed my record."""
