"""Small helpers any layer may use (they import nothing else of dcv_widget): the managers'
listener lists and their poll thread."""
